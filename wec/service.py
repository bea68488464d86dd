# SPDX-License-Identifier: GPL-3.0-or-later
"""What the collector does with each message: Enumerate, Heartbeat, Events, End, SubscriptionEnd.

Theory of operation.

This layer knows subscriptions, bookmarks, heartbeats and outputs; it parses neither XML nor
HTTP (the protocol core and the transport do). The transport hands each parsed message to
:meth:`CollectorService.handle` with a :class:`RequestContext` (who sent it, from where, to
which path); the service answers with the response XML, ``None`` for an empty 200, or raises
:class:`ServiceError` with the HTTP status.

Subscriptions come from a :class:`~wec.registry.SubscriptionRegistry`: an in-memory snapshot
refreshed from the store when the store's generation number changes (checked every
``db_sync_interval`` seconds, and at once on SIGHUP), so the request path reads no
subscription from the database, and only subscriptions whose outputs changed get new drivers.

* **Enumerate**: every enabled subscription whose outputs work, whose ``uri`` matches the
  request path and whose filter admits the source, with the source's stored bookmark. A
  subscription that cannot be written (an unparsable query, a damaged bookmark) is left out,
  loudly, instead of hiding the others.
* **Heartbeat**: recorded (batched by the heartbeat queue), then Ack.
* **Events**: the delivery rule. Deliver to every output, through a pipeline leased from the
  registry for the batch; only when all accepted it, store the bookmark and Ack. Anything
  else is a 503 without Ack: the source keeps the batch and sends it again.
* **End**: an empty 200. **SubscriptionEnd**: logged (why the source gave up), an empty 200.

Attribution (docs/security.md, "Attribution"): every message is refused (403) when its
principal renders to the Files ``{client}`` of another principal that delivered first;
Heartbeat and Events must arrive at the endpoint their Enumerate handed out
(``/wsman/subscriptions/<the e:Identifier>``); ``computer_mismatch`` compares each event's
``System/Computer`` with the authenticated host.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wec.attribution import ClientClaims, RateLimiter, check_computers, vouched_host
from wec.config import CollectorSettings, Settings
from wec.formats.base import EventMeta
from wec.metrics import Metrics
from wec.model import ComputerMismatch, Subscription
from wec.outputs.context import DriverContext
from wec.outputs.files import sanitize_client
from wec.outputs.handles import FileHandles
from wec.outputs.pipeline import DeliveryFailed, Pipeline, build_pipeline
from wec.outputs.workers import OutputWorkers
from wec.protocol import (
    End,
    Enumerate,
    EventsBatch,
    Header,
    Heartbeat,
    KerberosPolicy,
    LocalProtocolError,
    Message,
    SubscriptionEnd,
    SubscriptionOffer,
    TlsPolicy,
    build_ack,
    build_enumerate_response,
    collector_host,
    notify_address,
    subscription_uuid_from_path,
)
from wec.registry import PipelineUnavailable, SubscriptionRegistry, SubscriptionRuntime
from wec.store.base import Store, StoreError, StoreUnavailable
from wec.store.heartbeats import HeartbeatQueue

__all__ = ["CollectorService", "RequestContext", "ServiceError", "SubscriptionRuntime"]

log = logging.getLogger("wec.service")

SUBSCRIPTIONS_PREFIX = "/wsman/subscriptions/"


class ServiceError(Exception):
    """A request the service refuses; ``status`` is the HTTP status (the body stays empty)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RequestContext:
    principal: str  # authenticated identity
    ip: str  # the source's address
    path: str  # the request-target, byte-for-byte (matched against a subscription's `uri`)
    collector: CollectorSettings
    scheme: str = "http"  # http (Kerberos) | https (TLS)
    issuer_thumbprint: str | None = None  # TLS: SHA-1 of the CA that issued the client's cert


class CollectorService:
    """The message handlers of one collector process, over its subscription registry.

    One instance serves every listen address (each has its own transport app) and every
    thread of the HTTP server: the handlers keep no per-request state, the registry and the
    heartbeat queue are thread-safe, and outputs are written by a shared pool of
    ``outputs.write_threads`` threads, each write bounded by ``outputs.write_timeout``.

    One subscription may have at most ``server.max_requests_per_subscription`` Events
    requests delivering at once; the next gets a 503 at once. A subscription whose outputs
    hang thus holds a bounded share of the request threads, and Enumerate, heartbeats and
    the other subscriptions keep being served (docs/operations.md, "Slow or hung outputs").

    ``sync``, ``maybe_sync``, ``reload_outputs``, ``reopen`` and ``close`` are for the daemon
    (housekeeping thread, SIGHUP, shutdown).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        heartbeats: HeartbeatQueue,
        *,
        metrics: Metrics | None = None,
        file_handles: FileHandles | None = None,
    ) -> None:
        self.settings = settings
        self.file_handles = file_handles  # the Files outputs' open files, owned by the caller
        self.metrics = metrics or Metrics(settings.monitoring)
        # wecd syncs from its housekeeping thread, so that no request waits for a reload (and
        # the outputs it rebuilds); a service used on its own syncs when requests arrive.
        self.sync_on_requests = True
        self.store = store
        self.heartbeats = heartbeats
        self._workers = OutputWorkers(settings.outputs.write_threads)
        self._request_limit = settings.server.subscription_request_limit
        self._delivering: dict[str, int] = {}  # Events requests in delivery, by subscription
        self._delivering_lock = threading.Lock()
        self.registry = SubscriptionRegistry(store, self._build_pipeline)
        self.claims = ClientClaims(sanitize_client)
        self._mismatch_log = RateLimiter(60.0)
        try:
            owned = self.claims.seed(sorted({b.client for b in store.list_bookmarks()}))
        except Exception:
            log.exception("cannot read the known sources from the database ({client} owners start empty)")
        else:
            log.debug("{client} renderings owned by known sources: %d", owned)

    # --- subscriptions -----------------------------------------------------------------------

    def _build_pipeline(self, sub: Subscription) -> Pipeline:
        return build_pipeline(
            sub.outputs, self._context, workers=self._workers, timeout=self.settings.outputs.write_timeout
        )

    def _context(self, format_name: str) -> DriverContext:
        return DriverContext(
            node_name=self.settings.server.node_name,
            kafka_options=self.settings.outputs.kafka_options,
            format_name=format_name,
            base_dir=self.settings.server.state_dir,
            file_handles=self.file_handles,
        )

    def sync(self, force: bool = False) -> bool:
        """Reload subscriptions if the store changed; returns True if anything was reloaded."""
        return self.registry.sync(force)

    def maybe_sync(self) -> bool:
        """Sync when ``db_sync_interval`` has passed; True if anything was reloaded."""
        if time.monotonic() - self.registry.last_sync >= self.settings.server.db_sync_interval:
            try:
                return self.registry.sync()
            except StoreUnavailable:
                pass  # logged once per outage by the store; the snapshot in memory stays
            except Exception:
                log.exception("cannot reload subscriptions from the database")
        return False

    def reload_outputs(self, uuid: str | None = None) -> None:
        """Rebuild drivers (SIGHUP, ``wec subscriptions reload``): files reopened, sockets redone."""
        self.registry.rebuild(uuid)

    def reopen(self) -> None:
        self.registry.reopen()

    def runtimes(self) -> list[SubscriptionRuntime]:
        return self.registry.runtimes()

    def refresh_machine_metrics(self, now: datetime | None = None) -> None:
        """``openwec_machines{state}`` per subscription (OpenWEC refreshes it every 30 s)."""
        now = now or datetime.now(UTC)
        for r in self.registry.runtimes():
            sub = r.subscription
            start = now - timedelta(seconds=sub.heartbeat_interval)
            try:
                counts = self.store.machine_states(sub.uuid, start).counts()
            except StoreUnavailable:
                return  # logged once per outage by the store
            except Exception:
                log.exception("cannot count the machines of subscription %s", sub.name)
                continue
            self.metrics.set_machines(sub.uuid_upper, sub.name, {str(k): v for k, v in counts.items()})

    def close(self) -> None:
        self.registry.close()
        # Does not wait for writes stuck in the kernel (a hung mount): they cannot finish.
        self._workers.shutdown()

    # --- messages ----------------------------------------------------------------------------

    def handle(self, message: Message, ctx: RequestContext) -> str | None:
        """Process one message; returns the response XML, or None for an empty 200."""
        try:
            return self._handle(message, ctx)
        except StoreError as err:
            # The fault is ours (the database), not the source's: 503, no Ack, it resends.
            # An outage is logged once by the store, not here for every request.
            if not isinstance(err, StoreUnavailable):
                log.error("request of %s failed on the database: %s", ctx.principal, err)
            raise ServiceError(503, f"database unavailable: {err}") from err

    def _handle(self, message: Message, ctx: RequestContext) -> str | None:
        if self.sync_on_requests:
            self.maybe_sync()
        self._check_claim(ctx)
        if isinstance(message, Enumerate):
            self.metrics.input_messages.labels("enumerate").inc()
            return self.enumerate(message, ctx)
        if isinstance(message, Heartbeat):
            self.metrics.input_messages.labels("heartbeat").inc()
            return self.heartbeat(message, ctx)
        if isinstance(message, EventsBatch):
            self.metrics.input_messages.labels("events").inc()
            return self.events(message, ctx)
        if isinstance(message, SubscriptionEnd):
            return self.subscription_end(message, ctx)
        if isinstance(message, End):
            return None
        raise ServiceError(400, f"unsupported message {type(message).__name__}")

    def _check_claim(self, ctx: RequestContext, *, take: bool = False) -> None:
        """Refuse a principal whose ``{client}`` rendering another principal owns; with
        ``take`` (a batch about to be written), own the rendering if nobody does yet."""
        owner = self.claims.claim(ctx.principal) if take else self.claims.rival(ctx.principal)
        if owner is None:
            return
        self.metrics.client_collisions.inc()
        raise ServiceError(
            403,
            f"client {ctx.principal} renders to the same {{client}} as {owner}, which delivered "
            "first: refused so that its events cannot be written as the other's",
        )

    def enumerate(self, msg: Enumerate, ctx: RequestContext) -> str:
        if ctx.path.startswith(SUBSCRIPTIONS_PREFIX):
            raise ServiceError(400, "Enumerate sent to a subscription endpoint")
        host = collector_host(msg.header.to, ctx.collector.hostname)
        policy: KerberosPolicy | TlsPolicy = (
            TlsPolicy((ctx.issuer_thumbprint,) if ctx.issuer_thumbprint else ())
            if ctx.scheme == "https"
            else KerberosPolicy()
        )
        offers: list[SubscriptionOffer] = []
        for r in self.registry.runtimes():
            sub = r.subscription
            if not sub.is_offerable() or r.pipeline is None:
                continue
            if sub.uri is not None and sub.uri != ctx.path:
                continue
            if not sub.allows(ctx.principal, msg.header.machine_id):
                continue
            bookmark = self.store.get_bookmark(ctx.principal, sub.uuid)
            offers.append(
                SubscriptionOffer(
                    subscription=sub,
                    version=r.version,
                    address=notify_address(ctx.scheme, host, ctx.collector.public_port, sub.uuid),
                    bookmark=bookmark,
                    policy=policy,
                )
            )
        log.info(
            "enumerate from %s (%s, machine %s): %d subscription(s)",
            ctx.principal,
            ctx.ip,
            msg.header.machine_id,
            len(offers),
        )

        def left_out(offer: SubscriptionOffer, err: LocalProtocolError) -> None:
            # One subscription that cannot be written (an unparsable query, a damaged stored
            # bookmark) must not hide the others from every source: drop it, loudly.
            log.error(
                "subscription %s cannot be offered to %s: %s", offer.subscription.name, ctx.principal, err
            )

        return build_enumerate_response(msg, offers, on_error=left_out)

    def _resolve(self, header: Header, ctx: RequestContext) -> SubscriptionRuntime:
        identifier = header.identifier
        if not identifier:
            raise ServiceError(400, "no e:Identifier reference parameter")
        try:
            key = Subscription.canonical_uuid(identifier).upper()
        except ValueError:
            raise ServiceError(400, f"e:Identifier {identifier!r} is not a UUID") from None
        # The endpoint the Enumerate handed out names the subscription: a message for one
        # subscription posted to another's endpoint (or to an enumeration URI, which `uri`
        # may reserve for other sources) is not routed by its header alone.
        at = subscription_uuid_from_path(ctx.path)
        if at is None or at.upper() != key:
            raise ServiceError(
                404, f"message for subscription {key} posted to {ctx.path[:200]!r}, not to its endpoint"
            )
        runtime = self.registry.get(key)
        if runtime is None or not runtime.subscription.is_offerable():
            raise ServiceError(404, f"unknown or disabled subscription {identifier}")
        if not runtime.subscription.allows(ctx.principal, header.machine_id):
            raise ServiceError(
                403,
                f"client {ctx.principal} is not allowed by the filter of "
                f"subscription {runtime.subscription.name}",
            )
        return runtime

    def heartbeat(self, msg: Heartbeat, ctx: RequestContext) -> str:
        runtime = self._resolve(msg.header, ctx)
        self.heartbeats.record(ctx.principal, runtime.subscription.uuid, ctx.ip, datetime.now(UTC), False)
        return build_ack(msg.header)

    def events(self, msg: EventsBatch, ctx: RequestContext) -> str:
        runtime = self._resolve(msg.header, ctx)
        sub = runtime.subscription
        if not msg.header.version:
            raise ServiceError(400, "Events without the Version reference parameter")
        try:
            with self._request_slot(sub), self.registry.pipeline(runtime) as pipeline:
                return self._deliver(msg, ctx, runtime, pipeline)
        except PipelineUnavailable as err:
            raise ServiceError(503, f"subscription {sub.name}: outputs unavailable: {err}") from err

    @contextmanager
    def _request_slot(self, sub: Subscription) -> Iterator[None]:
        """Count one Events request of ``sub`` in delivery, or refuse it (503) when the
        subscription already has its share of the request threads."""
        key = sub.uuid_upper
        with self._delivering_lock:
            busy = self._delivering.get(key, 0)
            if busy >= self._request_limit:
                refused = True
            else:
                refused = False
                self._delivering[key] = busy + 1
        if refused:
            log.warning(
                "subscription %s: %d batches already in delivery (its outputs are slow or hung); "
                "refusing another",
                sub.name,
                busy,
            )
            raise ServiceError(503, f"subscription {sub.name}: {busy} batches already in delivery")
        try:
            yield
        finally:
            with self._delivering_lock:
                left = self._delivering[key] - 1
                if left:
                    self._delivering[key] = left
                else:
                    del self._delivering[key]

    def _deliver(
        self, msg: EventsBatch, ctx: RequestContext, runtime: SubscriptionRuntime, pipeline: Pipeline
    ) -> str:
        sub = runtime.subscription
        assert msg.header.version is not None  # checked by events()
        self._check_claim(ctx, take=True)  # atomically: two look-alikes never both write
        now = datetime.now(UTC)
        meta = EventMeta(
            ip=ctx.ip,
            time_received=now,
            principal=ctx.principal,
            subscription_uuid=sub.uuid_upper,
            subscription_version=msg.header.version.upper(),
            subscription_name=sub.name,
            subscription_uri=sub.uri,
            client_revision=msg.header.revision,
            server_revision=sub.revision,
            node=self.settings.server.node_name,
        )
        self.metrics.events(sub.uuid_upper, sub.name, ctx.principal, msg.events)
        events = msg.events
        if sub.computer_mismatch is not ComputerMismatch.ACCEPT:
            events = self._check_computers(sub, ctx, events)
        try:
            report = pipeline.deliver(events, meta) if events or not msg.events else None
        except DeliveryFailed as err:
            for driver in err.drivers:
                self.metrics.driver_failures.labels(sub.uuid_upper, sub.name, driver).inc()
            # No Ack and no bookmark: the source keeps the batch and sends it again.
            log.error(
                "subscription %s: batch of %d events from %s refused: %s",
                sub.name,
                len(msg.events),
                ctx.principal,
                err,
            )
            raise ServiceError(503, str(err)) from err
        if report is not None:
            for kind, count in report.parse_errors.items():
                self.metrics.parsing_failures.labels(sub.uuid_upper, sub.name, kind).inc(count)
            for fmt, count in report.format_failures.items():
                if count:
                    self.metrics.format_failures.labels(sub.uuid_upper, sub.name, fmt).inc(count)
                    log.warning(
                        "subscription %s: %d event(s) could not be formatted as %s", sub.name, count, fmt
                    )
        if msg.bookmark is not None:
            if "Direction=" in msg.bookmark and "backward" in msg.bookmark:
                log.warning(
                    "client %s sent a backward bookmark for %s (stored verbatim)", ctx.principal, sub.name
                )
            try:
                self.store.put_bookmark(ctx.principal, sub.uuid, msg.bookmark)
            except Exception as err:
                # The outputs have the events, but without a stored bookmark a restart would
                # replay from an older point: refuse the Ack so the source keeps its position.
                if isinstance(err, StoreUnavailable):
                    raise ServiceError(503, f"database unavailable: cannot store bookmark: {err}") from err
                log.exception("subscription %s: cannot store the bookmark of %s", sub.name, ctx.principal)
                raise ServiceError(503, f"cannot store bookmark: {err}") from err
        else:
            log.info(
                "Events from %s for %s without w:Bookmark: acked, bookmark kept", ctx.principal, sub.name
            )
        self.heartbeats.record(ctx.principal, sub.uuid, ctx.ip, now, True)
        return build_ack(msg.header)

    def _check_computers(
        self, sub: Subscription, ctx: RequestContext, events: tuple[str, ...]
    ) -> tuple[str, ...]:
        """Count (and with ``drop`` remove) the events that do not name the authenticated host.

        Dropped events are still acknowledged with their batch: a source would otherwise send
        them again forever, and the bookmark must move past them.
        """
        host, netbios = vouched_host(ctx.principal, ctx.scheme)
        check = check_computers(events, host, netbios)
        if not check.mismatched:
            return events
        action = sub.computer_mismatch
        self.metrics.computer_mismatches.labels(sub.uuid_upper, sub.name, str(action)).inc(
            len(check.mismatched)
        )
        suppressed = self._mismatch_log.allow((sub.uuid, ctx.principal))
        if suppressed is not None:
            log.warning(
                "subscription %s: %d of %d event(s) from %s (%s) name another computer (e.g. %r), "
                "computer_mismatch = %s%s",
                sub.name,
                len(check.mismatched),
                len(events),
                ctx.principal,
                ctx.ip,
                check.sample[:128] if check.sample is not None else "(none or unverifiable)",
                action,
                f"; {suppressed} similar line(s) suppressed" if suppressed else "",
            )
        if action is not ComputerMismatch.DROP:
            return events
        dropped = set(check.mismatched)
        return tuple(e for i, e in enumerate(events) if i not in dropped)

    def subscription_end(self, msg: SubscriptionEnd, ctx: RequestContext) -> str | None:
        log.warning(
            "SubscriptionEnd from %s (%s) for %s: status=%s code=%s machine=%s: %s",
            ctx.principal,
            ctx.ip,
            msg.header.identifier,
            msg.status,
            msg.fault_code,
            msg.fault_machine,
            msg.fault_message,
        )
        return None
