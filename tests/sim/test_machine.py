# SPDX-License-Identifier: GPL-3.0-or-later
"""One simulated machine against the test-only collector: real KDC, real sockets, real GSS wrap."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.sim.fake_collector import CollectorState, FakeCollector, FakeSubscription
from tests.support.kdc import Kdc
from wec.sim.events import EventLog
from wec.sim.machine import Machine, MachineConfig

SUB_UUID = "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
BASE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PRINCIPAL = "WIN10$@WEC.TEST"

needs_sldc = pytest.mark.skipif(
    importlib.util.find_spec("wec.sim.sldc") is None, reason="wec.sim.sldc missing"
)


def _config(kdc: Kdc | None, port: int, **kw: object) -> MachineConfig:
    base = MachineConfig(
        manager_url=f"http://wec.test.local:{port}/wsman/SubscriptionManager/WEC",
        computer="win10.wec.test.local",
        principal=PRINCIPAL if kdc else None,
        keytab=str(kdc.client_keytabs[PRINCIPAL]) if kdc else None,
        auth="kerberos" if kdc else "plain",
        connect_to=("127.0.0.1", port),
        events=60,
        batch_size=25,
        duration_s=60,
        base_time=BASE,
        retry_backoff_s=0.01,
        seed=5,
        track_keys=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _expected_keys(cfg: MachineConfig) -> list[tuple[str, str, int]]:
    return [
        (cfg.computer, e.channel, e.record_id) for e in EventLog(cfg.computer, cfg.events, cfg.seed).entries()
    ]


def _state(kdc: Kdc | None, **kw: object) -> CollectorState:
    return CollectorState(
        [FakeSubscription(SUB_UUID, "security-core")], kdc.service_keytab if kdc else None, **kw
    )  # type: ignore[arg-type]


def test_a_kerberos_machine_delivers_its_log_exactly_once(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port)
        stats = Machine(cfg).run()
    assert st.failures == []
    assert [r.action.rsplit("/", 1)[1] for r in st.requests] == [
        "Enumerate",
        "End",
        "Heartbeat",
        "Events",
        "Events",
        "Events",
    ]
    assert all(r.principal == PRINCIPAL for r in st.requests)
    assert st.event_keys() == _expected_keys(cfg)
    assert (stats.enumerations, stats.subscriptions, stats.heartbeats_acked) == (1, 1, 1)
    assert (stats.events_sent, stats.events_acked, stats.batches_sent, stats.batches_acked) == (60, 60, 3, 3)
    assert (stats.resent, stats.failed_batches, dict(stats.errors)) == (0, 0, {})
    assert stats.acked_keys == _expected_keys(cfg)
    assert len(stats.ack_latencies_ms) == 3
    # Two TCP connections: manager, then NotifyTo; each authenticated once.
    assert st.connections == 2 and len(st.auth_headers) == 2


def test_the_last_bookmark_names_the_last_record_of_each_channel(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port)
        Machine(cfg).run()
    last: dict[str, int] = {}
    for _, channel, record in _expected_keys(cfg):
        last[channel] = record
    stored = st.bookmarks[(PRINCIPAL, SUB_UUID)]
    for channel, record in last.items():
        assert f'<Bookmark Channel="{channel}" RecordId="{record}"' in stored
    assert stored.count('IsCurrent="true"') == 1


def test_a_batch_answered_503_is_resent_until_acked(kdc: Kdc) -> None:
    st = _state(kdc, fail_first_attempts=2)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port)
        stats = Machine(cfg).run()
    assert st.failures == []
    statuses = [r.status for r in st.requests if r.action.endswith("Events")]
    assert statuses == [503, 503, 200] * 3
    assert st.event_keys() == _expected_keys(cfg)  # stored once: 503 batches were not kept
    assert (stats.events_sent, stats.events_acked, stats.batches_sent, stats.batches_acked) == (60, 60, 3, 3)
    assert (stats.resent, stats.events_resent, stats.errors["503"]) == (6, 120, 6)
    # Each resend carries the same events and bookmark but a new MessageID.
    events_requests = [r for r in st.requests if r.action.endswith("Events")]
    assert events_requests[0].soap != events_requests[1].soap
    assert (
        events_requests[0].soap.split(b"<\x00w\x00:\x00B\x00")[1]
        == events_requests[1].soap.split(b"<\x00w\x00:\x00B\x00")[1]
    )


def test_a_batch_never_acked_is_given_up_after_max_retries(kdc: Kdc) -> None:
    st = _state(kdc, fail_first_attempts=100)
    with FakeCollector(st) as fc:
        stats = Machine(_config(kdc, fc.port, max_retries=3)).run()
    assert sum(1 for r in st.requests if r.action.endswith("Events")) == 4
    assert (stats.batches_sent, stats.batches_acked, stats.resent, stats.failed_batches) == (1, 0, 3, 1)
    assert stats.events_acked == 0 and st.events == []


def test_a_stored_bookmark_is_adopted_and_nothing_before_it_is_resent(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        first = _config(kdc, fc.port, events=40)
        Machine(first).run()
        # The same machine restarts with a longer log: the collector returns its bookmark.
        second = replace(first, events=70)
        stats = Machine(second).run()
    assert st.failures == []
    assert st.event_keys() == _expected_keys(second)  # 0..39 once, then 40..69 once
    assert stats.events_sent == 30
    # And with adoption switched off, the whole log comes again.
    with FakeCollector(st) as fc:
        stats = Machine(replace(second, adopt_bookmarks=False, connect_to=("127.0.0.1", fc.port))).run()
    assert stats.events_sent == 70


def test_earliest_starts_from_the_first_event(kdc: Kdc) -> None:
    st = CollectorState([FakeSubscription(SUB_UUID, "all", read_existing_events=True)], kdc.service_keytab)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port, events=10)
        stats = Machine(cfg).run()
    assert stats.events_acked == 10
    assert st.event_keys() == _expected_keys(cfg)


def test_the_query_selects_the_channels_and_max_elements_caps_batches(kdc: Kdc) -> None:
    st = CollectorState(
        [FakeSubscription(SUB_UUID, "system", channels=("System",), max_elements=3)], kdc.service_keytab
    )
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port)
        stats = Machine(cfg).run()
    expected = [k for k in _expected_keys(cfg) if k[1] == "System"]
    assert st.event_keys() == expected
    assert stats.batches_acked == -(-len(expected) // 3)


def test_each_offered_subscription_gets_its_own_stream(kdc: Kdc) -> None:
    other = "0C98CAE1-EDA4-4C92-82D9-A8A20EB518D2"
    st = CollectorState(
        [
            FakeSubscription(SUB_UUID, "security", channels=("Security",)),
            FakeSubscription(other, "system", channels=("System",)),
        ],
        kdc.service_keytab,
    )
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port)
        stats = Machine(cfg).run()
    by_sub = {u: [x for p, s, x in st.events if s == u] for u in (SUB_UUID, other)}
    assert (
        len(by_sub[SUB_UUID]) + len(by_sub[other])
        == stats.events_acked
        == 60 - sum(1 for k in _expected_keys(cfg) if k[1] == "Application")
    )
    assert stats.subscriptions == 2 and st.connections == 3


def test_a_changed_version_on_refresh_resubscribes_from_the_stored_bookmark(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port, events=50, batch_size=10, batch_interval_s=0.05)
        machine = Machine(cfg)
        sub = st.subscriptions[0]
        # After two acked batches, the collector's subscription changes version.
        original_requests = st.requests

        class _Watch(list):  # type: ignore[type-arg]
            def append(self, item: object) -> None:
                super().append(item)
                if sum(
                    1 for r in self if r.action.endswith("Events") and r.status == 200
                ) == 2 and sub.version.startswith("3F2A"):
                    sub.version = "11111111-2222-3333-4444-555555555555"
                    machine.request_refresh()

        st.requests = _Watch(original_requests)
        stats = machine.run()
    assert st.failures == []
    assert stats.enumerations == 2 and stats.subscriptions == 2
    assert st.event_keys() == _expected_keys(cfg)  # nothing lost, nothing doubled
    versions = [r.soap.decode("utf-16") for r in st.requests if r.action.endswith("Events")]
    assert "11111111-2222-3333-4444-555555555555" in versions[-1]


@needs_sldc
def test_compressed_subscription_bodies_are_sldc_with_windows_headers(kdc: Kdc) -> None:
    st = CollectorState([FakeSubscription(SUB_UUID, "c", compression=True)], kdc.service_keytab)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port, events=30, send_subscription_end=True)
        stats = Machine(cfg).run()
    assert st.failures == [] and stats.events_acked == 30
    assert st.event_keys() == _expected_keys(cfg)
    kinds = [(r.action.rsplit("/", 1)[1], dict(r.headers).get("Content-Encoding")) for r in st.requests]
    assert kinds == [
        ("Enumerate", None),
        ("End", None),
        ("Heartbeat", "SLDC"),
        ("Events", "SLDC"),
        ("Events", "SLDC"),
        ("SubscriptionEnd", "SLDC"),
        ("End", "SLDC"),
    ]
    for r in st.requests[2:-1]:
        assert r.cleartext[:1] == b"\xff" and r.cleartext != r.soap  # Reset 1 first, i.e. compressed
        assert int.from_bytes(r.cleartext[-4:], "little") == len(r.soap)  # the uncompressed-length trailer
        assert f"Length={len(r.cleartext)}\r\n".encode() in r.wire_body  # L = the SLDC length
    assert st.requests[-1].cleartext == st.requests[-1].soap  # the End is labelled SLDC, not compressed
    # Windows labels the auth POST to NotifyTo too, but not the one to the manager.
    assert [dict(h).get("Content-Encoding") for h in st.auth_headers] == [None, "SLDC"]


def test_subscription_end_then_end_uncompressed(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        Machine(_config(kdc, fc.port, events=5, send_subscription_end=True)).run()
    assert [r.action.rsplit("/", 1)[1] for r in st.requests][-2:] == ["SubscriptionEnd", "End"]
    assert "SourceCancelling" in st.requests[-2].soap.decode("utf-16")


def test_negotiate_mode_uses_spnego_and_its_protocol_name(kdc: Kdc) -> None:
    st = _state(kdc)
    with FakeCollector(st) as fc:
        stats = Machine(_config(kdc, fc.port, auth="negotiate", events=10)).run()
    assert st.failures == [] and stats.events_acked == 10
    assert all(dict(h)["Authorization"].startswith("Negotiate ") for h in st.auth_headers)
    assert b"application/HTTP-SPNEGO-session-encrypted" in st.requests[0].wire_body


def test_plain_mode_and_rendered_events_and_bookmark_event() -> None:
    st = _state(None)
    with FakeCollector(st) as fc:
        stats = Machine(
            _config(None, fc.port, events=10, rendered=True, bookmark_event=True, illegal_char_every=4)
        ).run()
    assert st.failures == [] and stats.events_acked == 10 and stats.keyless_events_sent == 1
    xmls = [x for _, _, x in st.events]
    assert "<EventID>111</EventID>" in xmls[0]
    assert all("<RenderingInfo Culture='en-US'>" in x for x in xmls[1:])
    assert sum("\\u{5}" in x for x in xmls) == 2  # U+0005 arrived and was substituted (docs/protocol.md §3.8)
    assert st.event_keys()[0] is None and None not in st.event_keys()[1:]


def test_an_unreachable_collector_is_bounded_and_reported() -> None:
    cfg = MachineConfig(
        manager_url="http://127.0.0.1:9/wsman/SubscriptionManager/WEC",
        computer="x",
        auth="plain",
        max_retries=2,
        retry_backoff_s=0.01,
        timeout_s=2,
        duration_s=10,
    )
    stats = Machine(cfg).run()
    assert stats.enumerations == 0 and stats.errors["connection"] == 3


def test_a_404_stops_the_stream_and_triggers_a_refresh(kdc: Kdc) -> None:
    st = _state(kdc, status_script=[200, 200, 200, 404])  # Enumerate, End, Heartbeat, then the Events
    with FakeCollector(st) as fc:
        stats = Machine(_config(kdc, fc.port, events=10)).run()
    assert stats.errors["404"] == 1
    assert stats.enumerations == 2  # it looked again, was offered the subscription, and delivered
    assert stats.events_acked == 10


def test_events_sent_again_by_a_restarted_stream_are_not_counted_as_new() -> None:
    # The 404 stops the stream with its batch unacknowledged; after the re-enumeration the
    # new stream sends the same 10 events again. "events_sent" counts *distinct* events
    # (docs/simulator.md), so the run must still balance: everything sent was acked.
    st = _state(None, status_script=[200, 200, 200, 404])  # Enumerate, End, Heartbeat, Events
    with FakeCollector(st) as fc:
        stats = Machine(_config(None, fc.port, events=10)).run()
    assert stats.errors["404"] == 1 and stats.enumerations == 2
    assert (stats.events_sent, stats.events_acked, stats.events_resent) == (10, 10, 10)
    assert stats.acked_keys == sorted(set(stats.acked_keys), key=stats.acked_keys.index)


def test_events_acked_again_after_a_replay_are_counted_once(kdc: Kdc) -> None:
    # A version change whose Subscribe says "earliest" makes the stream replay its log, as
    # Windows would; the collector sees duplicates, but events_acked counts each event once.
    st = _state(kdc)
    with FakeCollector(st) as fc:
        cfg = _config(kdc, fc.port, events=20, batch_size=10, batch_interval_s=0.05)
        machine = Machine(cfg)
        sub = st.subscriptions[0]

        class _Watch(list):  # type: ignore[type-arg]
            def append(self, item: object) -> None:
                super().append(item)
                if sum(
                    1 for r in self if r.action.endswith("Events") and r.status == 200
                ) == 1 and sub.version.startswith("3F2A"):
                    sub.version = "11111111-2222-3333-4444-555555555555"
                    sub.read_existing_events = True
                    st.bookmarks.clear()
                    machine.request_refresh()

        st.requests = _Watch(st.requests)
        stats = machine.run()
    assert stats.subscriptions == 2
    assert len(st.event_keys()) == 30  # batch 1 went twice over the wire
    assert (stats.events_sent, stats.events_acked) == (20, 20)
