# SPDX-License-Identifier: GPL-3.0-or-later
"""One simulated Windows source: Enumerate, then one push stream per offered subscription.

Theory of operation (docs/protocol.md §1.2, §3, §7, §8):

* **Enumerate** on a fresh connection to the manager URL (auth POST, Enumerate, End, close).
* For each offered subscription a :class:`_Stream` with its own connection to NotifyTo: a
  Heartbeat first, then Events batches read from the machine's :class:`EventLog`, each with a
  ``w:Bookmark`` holding the position *after* that batch.
* **At-least-once**: a batch is kept until it is acknowledged. 503, other 5xx, connection
  errors and bad Acks make it resent — the same events, a new MessageID — after an
  exponential backoff, at most ``max_retries`` times (then the stream gives up and says so
  in the stats). The position advances only on an Ack.
* **Bookmarks**: a stored ``BookmarkList`` in the Subscribe means "resume after it": events
  whose record id is ≤ the bookmarked id of their channel are skipped. ``earliest`` and no
  bookmark both start from the first event of the simulated log (the log holds only events
  created for this run, so "from the next event" and "from the first" coincide).
* **Refresh**: every ``refresh_s`` (the GPO ``Refresh``), or when :meth:`Machine.request_refresh`
  is called, the machine re-enumerates. Unchanged ``m:Version`` → the stream goes on; changed
  → the stream restarts with the new Subscribe (and its bookmark); vanished → it stops.
* Everything is bounded: ``events`` entries in the log, ``duration_s`` wall time, per-request
  timeouts, bounded retries.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from wec.sim import soap
from wec.sim.events import EventKey, EventLog, LogEntry, bookmark_event, render_event
from wec.sim.transport import (
    AuthError,
    ClientSecurity,
    TransportError,
    WinRMConnection,
    acquire_credentials,
    tls_client_context,
)

__all__ = ["Machine", "MachineConfig", "MachineStats"]

# Room left in the envelope for the SOAP header when packing events (bytes of UTF-16).
_HEADER_ALLOWANCE = 8192
# Longest single sleep of the main loop.
_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """Everything one simulated source needs. Only ``manager_url`` and ``computer`` are required."""

    manager_url: str  # the GPO "Server=" URL, e.g. http://wec.corp:5985/wsman/SubscriptionManager/WEC
    computer: str  # FQDN: the m:MachineID header and every event's <Computer>
    principal: str | None = None  # e.g. "WIN10$@WEC.TEST"; None = default credentials (KRB5CCNAME)
    keytab: str | None = None  # client keytab of ``principal``
    auth: Literal["kerberos", "negotiate", "plain", "tls"] = "kerberos"
    # tls: the collector's CA file, this machine's certificate (CN = its FQDN) and key
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    spn_host: str | None = None  # HTTP@<spn_host>; None = each URL's host, as Windows does
    spn_service: str = "HTTP"
    connect_to: tuple[str, int] | None = None  # TCP target for every connection (manager and NotifyTo)
    events: int = 100  # size of the machine's event log: the most this machine will send
    batch_size: int = 100  # events per batch (capped by the subscription's MaxElements)
    batch_interval_s: float = 0.0  # pause between two batches of one stream
    duration_s: float = 300.0  # hard wall-clock limit of the run
    rendered: bool | None = None  # RenderingInfo; None = follow the subscription's ContentFormat
    seed: int = 0
    base_time: datetime | None = None  # TimeCreated of the first event; None = now
    mix: Mapping[str, float] | None = None  # event kinds and weights (events.DEFAULT_MIX)
    illegal_char_every: int = 0  # every Nth event carries U+0005 (0 = never)
    bookmark_event: bool = False  # start each stream's first batch with event 111 (keyless)
    honour_query: bool = True  # send only the channels the subscription's QueryList selects
    adopt_bookmarks: bool = True  # resume after the bookmark of the Subscribe
    compression: Literal["auto", "off"] = "auto"  # auto: SLDC when the subscription asks for it
    max_retries: int = 5  # resends of one message before the stream gives up
    retry_backoff_s: float = 0.5  # first backoff; doubles per attempt
    retry_backoff_max_s: float = 10.0
    refresh_s: float | None = None  # re-enumerate period; None = only on request_refresh()
    send_subscription_end: bool = False  # SubscriptionEnd + End (labelled SLDC) at the end
    timeout_s: float = 30.0  # per request
    track_keys: bool = False  # keep the key of every acknowledged event (exactly-once checks)
    locale: str = "en-US"


@dataclass
class MachineStats:
    """Counters of one machine. Events are counted per stream (one stream per subscription)."""

    computer: str
    enumerations: int = 0
    subscriptions: int = 0  # streams started (a re-subscribe after a version change counts again)
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    events_sent: int = 0  # distinct events sent at least once (per subscription, across restarts)
    events_acked: int = 0  # distinct events acknowledged (a replayed event counts once)
    events_resent: int = 0  # event transmissions beyond the first
    batches_sent: int = 0  # distinct Events batches sent at least once
    batches_acked: int = 0
    resent: int = 0  # Events POSTs beyond the first of their batch
    failed_batches: int = 0  # batches (or heartbeats) given up after max_retries
    keyless_events_sent: int = 0  # event 111, not part of the counts above
    errors: Counter[str] = field(default_factory=Counter)  # HTTP status or "connection"/"auth"/"bad-ack"
    ack_latencies_ms: list[float] = field(default_factory=list)  # per acknowledged Events POST
    acked_keys: list[EventKey] = field(default_factory=list)  # only with track_keys
    messages: list[str] = field(default_factory=list)  # the first few error descriptions

    def note(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.messages) < 20:
            self.messages.append(f"{kind}: {message}")


@dataclass
class _Pending:
    """A message waiting for its Ack: a heartbeat (no entries) or an Events batch."""

    entries: list[LogEntry]
    events_xml: list[str]
    bookmark: dict[str, int]  # positions once acknowledged
    current: str | None
    attempts: int = 0
    next_at: float = 0.0

    @property
    def is_heartbeat(self) -> bool:
        return not self.events_xml


class _Stream:
    """The push stream of one subscription over its own NotifyTo connection."""

    def __init__(
        self, machine: Machine, sub: soap.OfferedSubscription, start: Mapping[str, int] | None
    ) -> None:
        self.m, self.sub, cfg = machine, sub, machine.config
        self.key = _stream_key(sub)
        self.compress = cfg.compression == "auto" and sub.compression
        self.rendered = cfg.rendered if cfg.rendered is not None else sub.content_format == "RenderedText"
        self.conn = WinRMConnection(
            sub.notify_to, machine.security, cfg.connect_to, cfg.timeout_s, label_sldc=self.compress
        )
        self.session_id = soap.new_uuid()
        self.positions: dict[str, int] = dict(start or {})  # acknowledged positions
        self._skip = dict(self.positions)
        wanted = {c.lower() for c in sub.channels} if cfg.honour_query and sub.channels else None
        self._entries: Iterator[LogEntry] = (
            e
            for e in machine.log.entries()
            if (wanted is None or e.channel.lower() in wanted) and e.record_id > self._skip.get(e.channel, 0)
        )
        self._exhausted = False
        self._lookahead: LogEntry | None = None
        self.pending: _Pending | None = _Pending([], [], dict(self.positions), None)  # the heartbeat first
        self.first_batch = True
        self.next_batch_at = 0.0
        self.last_sent = 0.0
        self.stopped = False

    @property
    def done(self) -> bool:
        return self.stopped or (self.pending is None and self._peek() is None)

    def _peek(self) -> LogEntry | None:
        if self._lookahead is None and not self._exhausted:
            self._lookahead = next(self._entries, None)
            self._exhausted = self._lookahead is None
        return self._lookahead

    def _take(self) -> LogEntry | None:
        e = self._peek()
        self._lookahead = None
        return e

    def _next_batch(self) -> _Pending | None:
        cfg, sub = self.m.config, self.sub
        limit = max(1, min(cfg.batch_size, sub.max_elements or cfg.batch_size))
        budget = sub.max_envelope_size - _HEADER_ALLOWANCE
        entries: list[LogEntry] = []
        xml: list[str] = []
        if self.first_batch and cfg.bookmark_event:
            xml.append(bookmark_event(cfg.computer, datetime.now(UTC)))
        size = sum(2 * len(x) + 200 for x in xml)
        while len(entries) < limit:
            e = self._peek()
            if e is None:
                break
            ill = (
                cfg.illegal_char_every > 0 and e.index % cfg.illegal_char_every == cfg.illegal_char_every - 1
            )
            text = render_event(e, cfg.computer, self.m.base_time, cfg.seed, self.rendered, ill)
            cost = 2 * len(text) + 200  # UTF-16 plus the w:Event wrapper
            if entries and size + cost > budget:
                break
            self._take()
            entries.append(e)
            xml.append(text)
            size += cost
        if not entries:
            return None
        bookmark = dict(self.positions)
        for e in entries:
            bookmark[e.channel] = e.record_id
        if self.first_batch and cfg.bookmark_event:
            self.m.stats.keyless_events_sent += 1
        self.first_batch = False
        return _Pending(entries, xml, bookmark, entries[-1].channel)

    def next_due(self, now: float) -> float | None:
        """When this stream next has something to do; None if never."""
        if self.stopped:
            return None
        if self.pending is not None:
            return self.pending.next_at
        if self._peek() is not None:
            return min(self.next_batch_at, self.last_sent + self.sub.heartbeat_s)
        return None

    def step(self, now: float) -> None:
        if self.stopped:
            return
        if self.pending is None:
            if now < self.next_batch_at:
                return
            self.pending = self._next_batch()
            if self.pending is None:
                return
        if now < self.pending.next_at:
            return
        self._attempt(self.pending, now)

    def _message(self, p: _Pending, message_id: str) -> bytes:
        cfg, sub = self.m.config, self.sub
        loc = sub.locale or cfg.locale
        dloc = sub.data_locale or cfg.locale
        if p.is_heartbeat:
            xml = soap.build_heartbeat(
                sub.notify_to,
                cfg.computer,
                message_id,
                sub.refs,
                self.session_id,
                soap.new_uuid(),
                loc,
                dloc,
                sub.max_envelope_size,
            )
        else:
            bm = soap.bookmark_list_xml(p.bookmark, p.current)
            xml = soap.build_events(
                sub.notify_to,
                cfg.computer,
                message_id,
                sub.refs,
                p.events_xml,
                bm,
                self.session_id,
                soap.new_uuid(),
                loc,
                dloc,
                sub.max_envelope_size,
            )
        return soap.encode_utf16(xml)

    def _attempt(self, p: _Pending, now: float) -> None:
        cfg, stats = self.m.config, self.m.stats
        p.attempts += 1
        n_events = len(p.entries)
        if p.is_heartbeat:
            stats.heartbeats_sent += 1
        elif p.attempts == 1:
            stats.batches_sent += 1
            # A restarted stream (404, version change, replay from an older bookmark) sends
            # events again in new batches: count each event of a subscription once.
            fresh = self.m.first_time(self.m.sent_keys, self.key, p.entries)
            stats.events_sent += fresh
            stats.events_resent += n_events - fresh
        else:
            stats.resent += 1
            stats.events_resent += n_events
        message_id = soap.new_uuid()
        started = time.monotonic()
        self.last_sent = started
        ok = False
        try:
            resp = self.conn.post(self._message(p, message_id), compress=self.compress)
            if resp.status == 200:
                soap.check_ack(resp.body, message_id)
                ok = True
            elif resp.status == 404:
                # Unknown or disabled subscription (docs/protocol.md §2.5): stop and look again.
                stats.note("404", f"{self.sub.notify_to} is gone")
                self.stopped = True
                self.conn.close()
                self.m.request_refresh()
                return
            else:
                stats.note(
                    str(resp.status), f"{'Heartbeat' if p.is_heartbeat else 'Events'} to {self.sub.notify_to}"
                )
                if resp.status == 401:
                    self.conn.close()  # a new connection means a new context
        except AuthError as err:
            stats.note("auth", str(err))
            self.conn.close()
        except TransportError as err:
            stats.note("connection", str(err))
            self.conn.close()
        except soap.SoapError as err:
            stats.note("bad-ack", str(err))
        if ok:
            if p.is_heartbeat:
                stats.heartbeats_acked += 1
            else:
                stats.batches_acked += 1
                stats.events_acked += self.m.first_time(self.m.acked_keys, self.key, p.entries)
                stats.ack_latencies_ms.append((time.monotonic() - started) * 1000.0)
                if cfg.track_keys:
                    stats.acked_keys.extend(EventKey(cfg.computer, e.channel, e.record_id) for e in p.entries)
                self.positions = p.bookmark
            self.pending = None
            self.next_batch_at = time.monotonic() + cfg.batch_interval_s
            return
        if p.attempts > cfg.max_retries:
            stats.failed_batches += 1
            stats.note(
                "gave-up",
                f"{'heartbeat' if p.is_heartbeat else 'batch'} to {self.sub.notify_to} "
                f"after {p.attempts} attempts",
            )
            self.stopped = True
            self.conn.close()
            return
        p.next_at = time.monotonic() + min(
            cfg.retry_backoff_s * 2 ** (p.attempts - 1), cfg.retry_backoff_max_s
        )

    def heartbeat_if_idle(self, now: float) -> None:
        if self.pending is None and not self.stopped and now - self.last_sent >= self.sub.heartbeat_s:
            self.pending = _Pending([], [], dict(self.positions), None)

    def end(self) -> None:
        """SubscriptionEnd to EndTo, then End labelled SLDC but not compressed (docs/protocol.md §3.5)."""
        cfg, sub = self.m.config, self.sub
        target = sub.end_to or sub.notify_to
        conn = (
            self.conn
            if target == sub.notify_to
            else WinRMConnection(
                target, self.m.security, cfg.connect_to, cfg.timeout_s, label_sldc=self.compress
            )
        )
        op = soap.new_uuid()
        try:
            xml = soap.build_subscription_end(
                target,
                cfg.computer,
                soap.new_uuid(),
                sub.refs,
                target,
                self.session_id,
                op,
                locale=sub.locale or cfg.locale,
                data_locale=sub.data_locale or cfg.locale,
            )
            resp = conn.post(soap.encode_utf16(xml), compress=self.compress)
            if resp.status != 200:
                self.m.stats.note(str(resp.status), "SubscriptionEnd")
            resp = conn.post(soap.encode_utf16(soap.build_end(soap.new_uuid(), op)), label_sldc=self.compress)
            if resp.status not in (200, 204):
                self.m.stats.note(str(resp.status), "End after SubscriptionEnd")
        except TransportError as err:
            self.m.stats.note("connection", f"SubscriptionEnd: {err}")
        finally:
            conn.close()

    def close(self) -> None:
        self.conn.close()


class _StatusError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _stream_key(sub: soap.OfferedSubscription) -> str:
    return sub.name or sub.notify_to


class Machine:
    """One simulated source. :meth:`run` blocks until the log is delivered, the duration ends,
    or :meth:`stop` is called; it returns the stats. Not reusable."""

    def __init__(self, config: MachineConfig, stop_event: threading.Event | None = None) -> None:
        self.config = config
        self.stats = MachineStats(config.computer)
        self.log = EventLog(config.computer, config.events, config.seed, config.mix)
        self.base_time = config.base_time or datetime.now(UTC)
        self._stop = stop_event or threading.Event()
        self._refresh = threading.Event()
        self._wake = threading.Event()
        self.security = ClientSecurity(
            mode="plain" if config.auth == "tls" else config.auth,
            spn_host=config.spn_host,
            spn_service=config.spn_service,
        )
        self._streams: dict[str, _Stream] = {}
        # (channel, record id) of every event sent / acknowledged, per stream key: the
        # stats count distinct events per subscription, whatever its streams resent.
        self.sent_keys: dict[str, set[tuple[str, int]]] = {}
        self.acked_keys: dict[str, set[tuple[str, int]]] = {}

    @staticmethod
    def first_time(seen: dict[str, set[tuple[str, int]]], key: str, entries: list[LogEntry]) -> int:
        """Record ``entries`` in ``seen[key]``; return how many were not there yet."""
        known = seen.setdefault(key, set())
        before = len(known)
        known.update((e.channel, e.record_id) for e in entries)
        return len(known) - before

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_refresh(self) -> None:
        """Re-enumerate at the next opportunity (thread-safe)."""
        self._refresh.set()
        self._wake.set()

    # -- enumeration -------------------------------------------------------------------------

    def _load_client_certificate(self) -> None:
        """TLS: the machine's certificate and key, presented on every connection."""
        cfg = self.config
        if self.security.ssl_context is not None:
            return
        if not (cfg.tls_ca and cfg.tls_cert and cfg.tls_key):
            raise AuthError("TLS needs a CA file, a client certificate and its key")
        self.security = ClientSecurity(
            mode="plain", ssl_context=tls_client_context(cfg.tls_ca, cfg.tls_cert, cfg.tls_key)
        )

    def enumerate(self) -> soap.EnumerateResponse:
        """One Enumerate + End on a fresh manager connection (docs/protocol.md §1.2)."""
        cfg = self.config
        if cfg.auth == "tls":
            self._load_client_certificate()
        conn = WinRMConnection(cfg.manager_url, self.security, cfg.connect_to, cfg.timeout_s)
        try:
            msg, op = soap.new_uuid(), soap.new_uuid()
            xml = soap.build_enumerate(
                cfg.manager_url, cfg.computer, msg, soap.new_uuid(), op, cfg.locale, cfg.locale
            )
            resp = conn.post(soap.encode_utf16(xml))
            if resp.status != 200:
                raise _StatusError(resp.status)
            er = soap.parse_enumerate_response(resp.body)
            if er.relates_to != msg:
                raise soap.SoapError(f"EnumerateResponse RelatesTo {er.relates_to!r} != {msg!r}")
            end = conn.post(soap.encode_utf16(soap.build_end(soap.new_uuid(), op)))
            if end.status not in (200, 204):
                self.stats.note(str(end.status), "End after Enumerate")
            self.stats.enumerations += 1
            return er
        finally:
            conn.close()

    def _enumerate_with_retries(self, deadline: float) -> soap.EnumerateResponse | None:
        cfg = self.config
        for attempt in range(cfg.max_retries + 1):
            try:
                return self.enumerate()
            except _StatusError as err:
                self.stats.note(str(err.status), f"Enumerate to {cfg.manager_url}")
            except AuthError as err:
                self.stats.note("auth", f"Enumerate: {err}")
            except TransportError as err:
                self.stats.note("connection", f"Enumerate: {err}")
            except soap.SoapError as err:
                self.stats.note("bad-response", f"Enumerate: {err}")
            delay = min(cfg.retry_backoff_s * 2**attempt, cfg.retry_backoff_max_s)
            if time.monotonic() + delay >= deadline or self._stop.wait(delay):
                break
        return None

    def _reconcile(self, er: soap.EnumerateResponse) -> None:
        offered = {_stream_key(s): s for s in er.subscriptions}
        for key in list(self._streams):
            if key not in offered:  # vanished: stop (docs/protocol.md §1.3)
                self._streams.pop(key).close()
        for key, sub in offered.items():
            old = self._streams.get(key)
            if old is not None and old.sub.version == sub.version and not old.stopped:
                continue
            start = self._start_positions(sub, old)
            if old is not None:
                old.close()
            self._streams[key] = _Stream(self, sub, start)
            self.stats.subscriptions += 1

    def _start_positions(self, sub: soap.OfferedSubscription, old: _Stream | None) -> Mapping[str, int]:
        bm = sub.bookmark
        if bm.earliest:
            return {}
        if bm.positions and self.config.adopt_bookmarks:
            return bm.positions
        # No stored bookmark: go on from what this source itself had delivered.
        return old.positions if old is not None else {}

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> MachineStats:
        cfg = self.config
        t0 = time.monotonic()
        deadline = t0 + cfg.duration_s
        try:
            if cfg.auth == "tls":
                self._load_client_certificate()
            elif cfg.auth != "plain" and cfg.principal and cfg.keytab:
                self.security = ClientSecurity(
                    mode=cfg.auth,
                    spn_host=cfg.spn_host,
                    spn_service=cfg.spn_service,
                    credentials=acquire_credentials(cfg.principal, cfg.keytab),
                )
            er = self._enumerate_with_retries(deadline)
            if er is None:
                return self.stats
            self._reconcile(er)
            next_refresh = t0 + cfg.refresh_s if cfg.refresh_s else None
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if self._refresh.is_set() or (next_refresh is not None and now >= next_refresh):
                    self._refresh.clear()
                    er = self._enumerate_with_retries(deadline)
                    if er is not None:
                        self._reconcile(er)
                    next_refresh = time.monotonic() + cfg.refresh_s if cfg.refresh_s else None
                for stream in list(self._streams.values()):
                    if self._stop.is_set() or time.monotonic() >= deadline:
                        break
                    stream.heartbeat_if_idle(time.monotonic())
                    stream.step(time.monotonic())
                idle = all(s.done for s in self._streams.values())
                if idle and not self._refresh.is_set() and (self._streams or next_refresh is None):
                    break
                now = time.monotonic()
                dues = [d for d in (s.next_due(now) for s in self._streams.values()) if d is not None]
                if next_refresh is not None:
                    dues.append(next_refresh)
                wake = min(dues, default=deadline)
                if wake > now and not self._refresh.is_set():
                    # Short slices: the shared stop event is noticed within _POLL_S.
                    self._wake.wait(min(wake - now, deadline - now, _POLL_S))
                    self._wake.clear()
        except AuthError as err:
            self.stats.note("auth", str(err))
        finally:
            for stream in self._streams.values():
                if cfg.send_subscription_end and not stream.stopped:
                    stream.end()
                stream.close()
        return self.stats
