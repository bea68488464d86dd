# SPDX-License-Identifier: GPL-3.0-or-later
"""HeartbeatQueue: coalescing, size/interval/close flushes, failures, bounds, threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.conftest import SQLITE_ONLY
from wec.model import Subscription
from wec.store.base import Store
from wec.store.heartbeats import HeartbeatQueue
from wec.store.sqlite import SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NEVER = 3600.0  # an interval that never elapses during a test


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` (bounded in time); True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def sub(store: Store, make_sub: Callable[..., Subscription]) -> Subscription:
    s = make_sub()
    store.put_subscription(s)
    return s


@pytest.fixture
def queues() -> Iterator[list[HeartbeatQueue]]:
    made: list[HeartbeatQueue] = []
    yield made
    for q in made:
        q.close(timeout=10)


def test_updates_of_one_source_are_coalesced(
    store: Store, sub: Subscription, queues: list[HeartbeatQueue]
) -> None:
    q = HeartbeatQueue(store, flush_interval=NEVER, queue_size=100)
    queues.append(q)
    q.record("pc", sub.uuid, "10.0.0.1", T0, False)
    q.record("pc", sub.uuid, "10.0.0.2", T0 + timedelta(seconds=2), True)
    q.record("pc", sub.uuid, "10.0.0.3", T0 + timedelta(seconds=4), False)
    assert q.pending == 1
    assert store.list_heartbeats() == []  # nothing written before a flush
    assert q.flush() == 1
    (row,) = store.list_heartbeats()
    assert (row.first_seen, row.last_seen, row.last_event_seen, row.ip) == (
        T0,
        T0 + timedelta(seconds=4),
        T0 + timedelta(seconds=2),  # the event flag sticks, with the event's own time
        "10.0.0.3",
    )
    assert q.pending == 0 and q.flushed == 1


def test_reaching_queue_size_flushes_without_waiting_for_the_interval(
    store: Store, sub: Subscription, queues: list[HeartbeatQueue]
) -> None:
    q = HeartbeatQueue(store, flush_interval=NEVER, queue_size=5)
    queues.append(q)
    for i in range(4):
        q.record(f"pc{i}", sub.uuid, "10.0.0.1", T0, False)
    time.sleep(0.2)
    assert store.list_heartbeats() == []
    q.record("pc4", sub.uuid, "10.0.0.1", T0, False)
    assert wait_until(lambda: len(store.list_heartbeats()) == 5)


def test_the_interval_flushes_a_partial_queue(
    store: Store, sub: Subscription, queues: list[HeartbeatQueue]
) -> None:
    q = HeartbeatQueue(store, flush_interval=0.05, queue_size=1000)
    queues.append(q)
    q.record("pc", sub.uuid, "10.0.0.1", T0, True)
    assert wait_until(lambda: len(store.list_heartbeats()) == 1)
    assert q.pending == 0


def test_close_flushes_what_is_left_and_stops_the_thread(store: Store, sub: Subscription) -> None:
    q = HeartbeatQueue(store, flush_interval=NEVER, queue_size=1000)
    q.record("pc", sub.uuid, "10.0.0.1", T0, False)
    q.close(timeout=10)
    assert len(store.list_heartbeats()) == 1
    assert not q._thread.is_alive()
    q.record("late", sub.uuid, "10.0.0.1", T0, False)  # after close: counted, never raises
    assert q.dropped == 1


def test_many_threads_record_at_once(store: Store, sub: Subscription) -> None:
    q = HeartbeatQueue(store, flush_interval=0.02, queue_size=16)
    n_threads, per_thread, clients = 8, 200, 40

    def producer(n: int) -> None:
        for i in range(per_thread):
            q.record(
                f"pc{i % clients}",
                sub.uuid,
                f"10.0.{n}.{i % 250}",
                T0 + timedelta(milliseconds=n * per_thread + i),
                i % 7 == 0,
            )

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    q.close(timeout=10)
    rows = {r.client: r for r in store.list_heartbeats()}
    assert len(rows) == clients
    for c in range(clients):
        # The latest record of pc<c> comes from the last thread, at its last i ≡ c (mod clients).
        last_i = max(i for i in range(per_thread) if i % clients == c)
        assert rows[f"pc{c}"].last_seen == T0 + timedelta(milliseconds=(n_threads - 1) * per_thread + last_i)
        assert rows[f"pc{c}"].first_seen == T0 + timedelta(milliseconds=c)
    assert q.dropped == 0 and q.failures == 0


@pytest.fixture
def locked_store(
    db_path: str, store: Store, sub: Subscription
) -> Iterator[tuple[SQLiteStore, sqlite3.Connection]]:
    """A store whose database another connection holds locked: writes really fail."""
    impatient = SQLiteStore(db_path, busy_timeout=0.05)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    yield impatient, blocker
    if blocker.in_transaction:
        blocker.execute("ROLLBACK")
    blocker.close()
    impatient.close()


@SQLITE_ONLY
def test_a_failed_flush_keeps_the_updates_for_the_next_try(
    locked_store: tuple[SQLiteStore, sqlite3.Connection], sub: Subscription, store: Store
) -> None:
    impatient, blocker = locked_store
    q = HeartbeatQueue(impatient, flush_interval=NEVER, queue_size=1000)
    q.record("pc", sub.uuid, "10.0.0.1", T0, True)
    assert q.flush() == 0
    assert q.failures == 1 and q.pending == 1
    q.record("pc", sub.uuid, "10.0.0.2", T0 + timedelta(seconds=1), False)  # merged into the retry
    q.record("other", sub.uuid, "10.0.0.3", T0, False)
    blocker.execute("ROLLBACK")
    assert q.flush() == 2
    q.close(timeout=10)
    rows = {r.client: r for r in store.list_heartbeats()}
    assert rows["pc"].last_event_seen == T0 and rows["pc"].ip == "10.0.0.2"
    assert "other" in rows


@SQLITE_ONLY
def test_while_the_store_is_down_the_queue_drops_its_oldest_beyond_ten_times_its_size(
    locked_store: tuple[SQLiteStore, sqlite3.Connection], sub: Subscription, store: Store
) -> None:
    impatient, blocker = locked_store
    q = HeartbeatQueue(impatient, flush_interval=NEVER, queue_size=2)  # bound: 20 sources
    for i in range(25):
        q.record(f"pc{i:02d}", sub.uuid, "10.0.0.1", T0, False)
    # Size-triggered flushes fail in the background meanwhile; the bound holds regardless.
    assert wait_until(lambda: q.failures >= 1)
    assert q.pending == 20
    assert q.dropped == 5
    blocker.execute("ROLLBACK")
    q.close(timeout=10)
    assert sorted(r.client for r in store.list_heartbeats()) == [f"pc{i:02d}" for i in range(5, 25)]


def test_invalid_parameters_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        HeartbeatQueue(store, flush_interval=0, queue_size=10)
    with pytest.raises(ValueError):
        HeartbeatQueue(store, flush_interval=1, queue_size=0)
