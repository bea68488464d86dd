# SPDX-License-Identifier: GPL-3.0-or-later
"""The live subscription registry: what the request path reads instead of the database.

Theory of operation.

* **Snapshot.** :meth:`SubscriptionRegistry.sync` reads the subscriptions from the store when
  the store's generation number changed (or when forced) and replaces the whole snapshot, a
  dict from the subscription's uppercase UUID to a :class:`SubscriptionRuntime`, in one step
  under the lock. A request resolves its subscription with :meth:`~SubscriptionRegistry.get`
  and never touches the database for it.
* **Outputs survive a sync.** A subscription keeps its pipeline (its drivers: files, sockets,
  producers) across syncs as long as its outputs are the same and nobody asked for a reload
  (``wec subscriptions reload`` bumps a counter in the store); otherwise it gets a new one. A
  subscription whose outputs cannot be built is kept, with ``pipeline=None`` and the reason in
  ``error``, so that its sources get a 503 rather than a 404.
* **Leases.** A batch is delivered inside ``with registry.pipeline(runtime) as p:``. The lease
  takes the subscription's *newest* pipeline (a sync may have replaced the runtime since the
  request resolved it) and counts it in use until the block exits.
* **Retirement.** A sync or a reload replaces pipelines while batches may be delivering to
  them. Closing one under a batch would refuse that batch (the drivers raise once closed): a
  spurious 503 for every batch in flight at each SIGHUP. A replaced pipeline that is in use is
  therefore retired, and closed by the release of its last lease; an idle one is closed at
  once. :meth:`~SubscriptionRegistry.close` (shutdown) closes everything without waiting.

One lock guards the snapshot, the lease counts and the retired pipelines. Pipelines are built
under it (two syncs never build the same outputs twice) and closed outside it (a driver's
close may block on the network).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from wec.model import ClientFilter, FilterKind, Subscription
from wec.outputs.pipeline import Pipeline
from wec.protocol import subscription_version
from wec.store.base import Store

__all__ = ["PipelineUnavailable", "SubscriptionRegistry", "SubscriptionRuntime"]

log = logging.getLogger("wec.registry")


class PipelineUnavailable(Exception):
    """The subscription's outputs could not be built; the message says why."""


@dataclass
class SubscriptionRuntime:
    """One subscription as the collector serves it."""

    subscription: Subscription
    version: str  # subscription_version(): what sources echo in the Version reference parameter
    pipeline: Pipeline | None  # None: the outputs could not be built (see error)
    outputs_key: tuple[str, ...]  # the outputs' identity: a change means new drivers
    error: str | None = None  # why the outputs could not be built (subscription then refused)
    reloads: int = 0  # the store's reload counter when the pipeline was built (`wec subscriptions reload`)


def _outputs_key(sub: Subscription) -> tuple[str, ...]:
    return tuple(o.key() for o in sub.outputs)


class SubscriptionRegistry:
    """The subscriptions of one collector process and the pipelines of their outputs.

    ``build`` makes the pipeline of a subscription's outputs and raises when it cannot; the
    registry logs the failure and keeps the subscription without a pipeline.
    """

    def __init__(self, store: Store, build: Callable[[Subscription], Pipeline]) -> None:
        self._store = store
        self._build_pipeline = build
        self._lock = threading.Lock()
        self._subs: dict[str, SubscriptionRuntime] = {}
        self._in_use: dict[Pipeline, int] = {}  # leases per pipeline (identity)
        self._retired: set[Pipeline] = set()  # replaced, closed by their last release
        self._generation: int | None = None
        self._last_sync = 0.0
        self._warned_filters: dict[str, ClientFilter] = {}  # MachineID filters already warned of

    @property
    def last_sync(self) -> float:
        """When :meth:`sync` last looked at the store (``time.monotonic()``; 0 before)."""
        return self._last_sync

    # --- snapshot --------------------------------------------------------------------------

    def sync(self, force: bool = False) -> bool:
        """Reload subscriptions if the store changed; returns True if anything was reloaded.

        ``force`` also rebuilds every pipeline (SIGHUP: files reopened, sockets redone).
        """
        generation = self._store.subscriptions_generation()
        with self._lock:
            self._last_sync = time.monotonic()
            if not force and generation == self._generation:
                return False
            subs = self._store.list_subscriptions()
            reloads = self._store.reload_counters()
            fresh: dict[str, SubscriptionRuntime] = {}
            stale: list[Pipeline] = []
            for sub in subs:
                key = sub.uuid_upper
                old = self._subs.get(key)
                okey = _outputs_key(sub)
                counter = reloads.get(sub.uuid, 0)
                reload_requested = old is not None and old.reloads != counter
                if (
                    old is not None
                    and old.outputs_key == okey
                    and old.pipeline is not None
                    and not force
                    and not reload_requested
                ):
                    pipeline: Pipeline | None = old.pipeline
                    error: str | None = None
                else:
                    if old is not None and old.pipeline is not None:
                        stale.append(old.pipeline)
                    if reload_requested:
                        log.warning("subscription %s: reload requested, rebuilding its outputs", sub.name)
                    pipeline, error = self._build(sub)
                fresh[key] = SubscriptionRuntime(
                    sub, subscription_version(sub), pipeline, okey, error, counter
                )
            for key, old in self._subs.items():
                if key not in fresh and old.pipeline is not None:
                    stale.append(old.pipeline)
            self._subs = fresh
            self._generation = generation
            idle = self._retire(stale)
        for p in idle:
            p.close()
        for runtime in fresh.values():
            self._warn_machine_id_filter(runtime.subscription)
        log.info(
            "subscriptions loaded: %d (%d offerable)",
            len(fresh),
            sum(1 for r in fresh.values() if r.subscription.is_offerable()),
        )
        return True

    def _warn_machine_id_filter(self, sub: Subscription) -> None:
        """Say, once per subscription and filter, that a MachineID filter protects nothing."""
        f = sub.filter
        if f is None or f.kind is not FilterKind.MACHINE_ID:
            self._warned_filters.pop(sub.uuid, None)
            return
        if self._warned_filters.get(sub.uuid) == f:
            return
        self._warned_filters[sub.uuid] = f
        log.warning(
            "subscription %s: its %s filter is on MachineID, a SOAP header the source writes "
            "itself and nobody authenticates: any source can claim any value; filter on Client "
            "to restrict by the authenticated identity",
            sub.name,
            f.operation,
        )

    def get(self, uuid_upper: str) -> SubscriptionRuntime | None:
        """The runtime of a subscription by its uppercase UUID, or None."""
        with self._lock:
            return self._subs.get(uuid_upper)

    def runtimes(self) -> list[SubscriptionRuntime]:
        with self._lock:
            return list(self._subs.values())

    def rebuild(self, uuid: str | None = None) -> None:
        """New pipelines for one subscription (by UUID) or all: drivers reopened from scratch."""
        with self._lock:
            targets = [r for k, r in self._subs.items() if uuid is None or k == uuid.upper()]
            stale: list[Pipeline] = []
            for r in targets:
                old = r.pipeline
                r.pipeline, r.error = self._build(r.subscription)
                if old is not None:
                    stale.append(old)
            idle = self._retire(stale)
        for p in idle:
            p.close()

    def reopen(self) -> None:
        """Ask every current pipeline to reopen its files (log rotation)."""
        with self._lock:
            pipelines = [r.pipeline for r in self._subs.values() if r.pipeline is not None]
        for p in pipelines:
            p.reopen()

    def close(self) -> None:
        """Close every pipeline, retired ones too: shutting down, no batch is waited for."""
        with self._lock:
            pipelines = [r.pipeline for r in self._subs.values() if r.pipeline is not None]
            pipelines += self._retired
            self._subs = {}
            self._retired = set()
        for p in pipelines:
            p.close()

    # --- leases ----------------------------------------------------------------------------

    @contextmanager
    def pipeline(self, runtime: SubscriptionRuntime) -> Iterator[Pipeline]:
        """Lease the subscription's newest pipeline for the duration of the block.

        Raises :class:`PipelineUnavailable` when the subscription has no pipeline.
        """
        with self._lock:
            # A sync may have replaced the runtime since it was resolved: take the newest.
            current = self._subs.get(runtime.subscription.uuid_upper) or runtime
            pipeline = current.pipeline
            if pipeline is None:
                raise PipelineUnavailable(str(current.error))
            self._in_use[pipeline] = self._in_use.get(pipeline, 0) + 1
        try:
            yield pipeline
        finally:
            self._release(pipeline)

    def _release(self, pipeline: Pipeline) -> None:
        with self._lock:
            left = self._in_use.get(pipeline, 0) - 1
            if left > 0:
                self._in_use[pipeline] = left
                return
            self._in_use.pop(pipeline, None)
            if pipeline not in self._retired:
                return
            self._retired.discard(pipeline)
        pipeline.close()

    # --- with self._lock held --------------------------------------------------------------

    def _build(self, sub: Subscription) -> tuple[Pipeline | None, str | None]:
        try:
            return self._build_pipeline(sub), None
        except Exception as err:
            log.error("subscription %s (%s): cannot build its outputs: %s", sub.name, sub.uuid, err)
            return None, str(err)

    def _retire(self, pipelines: list[Pipeline]) -> list[Pipeline]:
        """The replaced pipelines that can be closed now; the others are closed by
        :meth:`_release` when their last lease ends."""
        idle = []
        for p in pipelines:
            if self._in_use.get(p):
                self._retired.add(p)
            else:
                idle.append(p)
        return idle
