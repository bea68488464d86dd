# SPDX-License-Identifier: GPL-3.0-or-later
"""Batched heartbeat writes, so that the request path never waits on the database.

Every Heartbeat and Events message updates a row (docs/protocol.md §7.5). Writing each one would put
a database transaction on the hot path; like OpenWEC (``flush_heartbeats_interval`` = 5 s,
``heartbeats_queue_size`` = 2048), we keep the updates in memory, coalesced per
(client, subscription), and a background thread writes them in one transaction when the
interval elapses or when ``queue_size`` distinct sources are waiting, whichever comes first.

When the database fails, the batch is put back (merged with anything newer) for the next
attempt. So that a long outage cannot eat the memory, at most ``10 × queue_size`` sources are
kept; beyond that the oldest entries are dropped and counted in :attr:`HeartbeatQueue.dropped`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from wec.store.base import HeartbeatUpdate, Store, StoreUnavailable

__all__ = ["HeartbeatQueue"]

log = logging.getLogger(__name__)

_Key = tuple[str, str]


class HeartbeatQueue:
    """Coalescing, bounded, background-flushed queue of :class:`HeartbeatUpdate`."""

    def __init__(self, store: Store, flush_interval: float, queue_size: int) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._store = store
        self._interval = flush_interval
        self._queue_size = queue_size
        self._limit = 10 * queue_size
        self._pending: dict[_Key, HeartbeatUpdate] = {}  # insertion order = oldest first
        self._lock = threading.Lock()  # guards _pending and the counters; never held during I/O
        self._flush_lock = threading.Lock()  # one flush at a time, so batches land in order
        self._wake = threading.Event()  # "flush now": the queue reached queue_size
        self._stop = threading.Event()
        self._closed = False
        self.dropped = 0  # updates discarded because the queue was over its bound
        self.flushed = 0  # updates written to the store
        self.failures = 0  # flushes that failed
        self._thread = threading.Thread(target=self._run, name="wec-heartbeats", daemon=True)
        self._thread.start()

    # -- producer side ---------------------------------------------------------------------------
    def record(self, client: str, sub_uuid: str, ip: str, when: datetime, is_event: bool) -> None:
        """Note that ``client`` sent a Heartbeat (or Events, ``is_event``) at ``when``.

        O(1) and never touches the database.
        """
        self.add(HeartbeatUpdate.single(client, sub_uuid, ip, when, is_event))

    def add(self, update: HeartbeatUpdate) -> None:
        with self._lock:
            if self._closed:
                self.dropped += 1
                log.warning("heartbeat of %s recorded after the queue was closed; dropped", update.client)
                return
            previous = self._pending.get(update.key)
            self._pending[update.key] = update if previous is None else previous.merge(update)
            size = len(self._pending)
            if size > self._limit:
                self._drop_oldest_locked(size - self._limit)
        if size >= self._queue_size:
            self._wake.set()

    def _drop_oldest_locked(self, count: int) -> None:
        for _ in range(count):
            del self._pending[next(iter(self._pending))]
        self.dropped += count
        log.warning(
            "heartbeat queue over %d entries (store unavailable?): dropped %d, %d in total",
            self._limit,
            count,
            self.dropped,
        )

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- consumer side ---------------------------------------------------------------------------
    def flush(self) -> int:
        """Write everything pending now; returns the number of rows written (0 on failure)."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                self._store.put_heartbeats(list(batch.values()))
            except StoreUnavailable:
                # An outage: the store logs it once; here only the retry is worth noting.
                log.debug("cannot store %d heartbeats (database unavailable); will retry", len(batch))
                self._requeue(batch)
                return 0
            except Exception:
                log.warning("cannot store %d heartbeats; will retry", len(batch), exc_info=True)
                self._requeue(batch)
                return 0
            with self._lock:
                self.flushed += len(batch)
            return len(batch)

    def _requeue(self, batch: dict[_Key, HeartbeatUpdate]) -> None:
        with self._lock:
            self.failures += 1
            # The failed batch is older than anything recorded meanwhile: it goes first, and a
            # newer update of the same source is merged into it.
            merged = batch
            for key, newer in self._pending.items():
                older = merged.get(key)
                merged[key] = newer if older is None else older.merge(newer)
            self._pending = merged
            if len(merged) > self._limit:
                self._drop_oldest_locked(len(merged) - self._limit)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            before = self.failures
            self.flush()
            if self.failures != before:
                # Back off for a whole interval: a full queue would otherwise re-trigger a
                # flush on every record() and hammer a database that is down.
                self._stop.wait(self._interval)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background thread and write what is left (call once, at shutdown)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        with self._lock:
            self._closed = True
        self.flush()
