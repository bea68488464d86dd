# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscription changes reach a running wecd (docs/protocol.md §7, §11.1 db_sync_interval).

The real collector runs in its own process (tests/e2e/harness.py) against the real KDC; the
admin CLI runs as a subprocess against the same database; the sources are the simulator's
machines (``wec.sim``), with real Kerberos, encryption and SLDC.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.harness import SUBSCRIPTION_UUID, Collector, subscription_toml
from tests.support.kdc import Kdc
from wec.sim import soap
from wec.sim.machine import Machine, MachineConfig
from wec.sim.transport import ClientSecurity, WinRMConnection, acquire_credentials

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYNC_WAIT = 15.0  # generous bound on "within db_sync_interval (0.5 s)" on a loaded machine


@pytest.fixture
def collector(kdc: Kdc, tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path / "wecd", kdc)
    yield c
    c.stop()


def _machine(c: Collector, client: str = "WIN10$", events: int = 0) -> Machine:
    principal = f"{client}@{c.kdc.realm}"
    return Machine(
        MachineConfig(
            manager_url=c.url,
            computer=f"{client.rstrip('$').lower()}.wec.test.local",
            principal=principal,
            keytab=str(c.kdc.client_keytabs[principal]),
            connect_to=("127.0.0.1", c.port),
            events=events,
            batch_size=10,
            duration_s=30,
            timeout_s=10,
            retry_backoff_s=0.05,
            max_retries=2,
            base_time=datetime(2025, 1, 1, tzinfo=UTC),
        )
    )


def _credentials(machine: Machine) -> ClientSecurity:
    cfg = machine.config
    assert cfg.principal and cfg.keytab
    return ClientSecurity(mode="kerberos", credentials=acquire_credentials(cfg.principal, cfg.keytab))


def _offers(c: Collector, client: str = "WIN10$") -> tuple[soap.OfferedSubscription, ...]:
    m = _machine(c, client)
    m.security = _credentials(m)
    return m.enumerate().subscriptions


def _post(c: Collector, client: str, offered: soap.OfferedSubscription, *, events: bool) -> int:
    """One Heartbeat (or one Events batch) to the subscription's NotifyTo, by hand; the status."""
    m = _machine(c, client)
    conn = WinRMConnection(offered.notify_to, _credentials(m), ("127.0.0.1", c.port), 10)
    try:
        session, op = soap.new_uuid(), soap.new_uuid()
        if events:
            from wec.sim.events import EventLog, render_event

            entry = next(iter(EventLog(m.config.computer, 1, 0, None).entries()))
            xml = soap.build_events(
                offered.notify_to, m.config.computer, soap.new_uuid(), offered.refs,
                [render_event(entry, m.config.computer, datetime.now(UTC), 0, False, False)],
                soap.bookmark_list_xml({entry.channel: entry.record_id}, entry.channel), session, op,
            )  # fmt: skip
        else:
            xml = soap.build_heartbeat(
                offered.notify_to, m.config.computer, soap.new_uuid(), offered.refs, session, op
            )
        return conn.post(soap.encode_utf16(xml)).status
    finally:
        conn.close()


def _wait(c: Collector, predicate: object, what: str) -> None:
    assert c.wait_for(predicate, timeout=SYNC_WAIT, interval=0.2), f"{what}\n{c.logs()[-3000:]}"


def test_a_subscription_created_while_wecd_runs_is_offered_at_the_next_enumeration(
    collector: Collector,
) -> None:
    collector.start()
    assert _offers(collector) == ()
    collector.add_subscription(subscription_toml())
    r = collector.wec("subscriptions", "load", str(collector.directory / "subscriptions"))
    assert "+ add e2e-security" in r.stderr
    _wait(collector, lambda: len(_offers(collector)) == 1, "the new subscription was not offered")
    offered = _offers(collector)[0]
    assert offered.name == "e2e-security"
    assert SUBSCRIPTION_UUID.upper() in offered.notify_to.upper()
    # and events flow to its outputs
    stats = _machine(collector, events=5).run()
    assert stats.events_acked == 5, stats.messages
    assert collector.output_files()


def test_a_disabled_subscription_is_no_longer_offered_and_its_endpoint_answers_404(
    collector: Collector,
) -> None:
    collector.add_subscription(subscription_toml())
    collector.start()
    (offered,) = _offers(collector)
    assert _post(collector, "WIN10$", offered, events=False) == 200
    collector.wec("subscriptions", "disable", "e2e-security")
    _wait(collector, lambda: _post(collector, "WIN10$", offered, events=False) == 404, "heartbeat not 404")
    assert _post(collector, "WIN10$", offered, events=True) == 404
    assert _offers(collector) == ()
    # the simulated source, told 404, stops and looks again: nothing is offered
    stats = _machine(collector, events=3).run()
    assert stats.enumerations >= 1 and stats.subscriptions == 0 and stats.events_sent == 0
    collector.wec("subscriptions", "enable", "e2e-security")
    _wait(collector, lambda: _post(collector, "WIN10$", offered, events=False) == 200, "not re-enabled")
    # enabling or disabling is invisible to sources: the version is the same
    assert _offers(collector)[0].version == offered.version


def test_a_filter_hides_the_subscription_from_other_clients_and_403s_their_messages(
    collector: Collector,
) -> None:
    collector.add_subscription(subscription_toml())
    collector.start()
    (offered,) = _offers(collector, "WIN11$")
    collector.wec("subscriptions", "edit", "e2e-security", "--filter", "Only", "--filter-targets",
                  f"WIN10$@{collector.kdc.realm}")  # fmt: skip
    _wait(collector, lambda: _offers(collector, "WIN11$") == (), "WIN11$ still sees the subscription")
    assert len(_offers(collector, "WIN10$")) == 1
    # the simulator's own enumeration sees nothing as WIN11$, everything as WIN10$
    hidden = _machine(collector, "WIN11$", events=3).run()
    assert hidden.enumerations >= 1 and hidden.subscriptions == 0 and hidden.events_sent == 0
    # WIN11$ still knows the address from before: its messages are refused
    assert _post(collector, "WIN11$", offered, events=False) == 403
    assert _post(collector, "WIN11$", offered, events=True) == 403
    assert _post(collector, "WIN10$", offered, events=False) == 200
    # the filter is invisible to sources: no re-subscription for the allowed one
    assert _offers(collector, "WIN10$")[0].version == offered.version


class _TcpSink:
    """A TCP receiver that records the life of each connection the Tcp output opens."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._read, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        try:
            while data := conn.recv(65536):
                with self._lock:
                    self.bytes += len(data)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.closed += 1

    def close(self) -> None:
        self.sock.close()


def test_reload_makes_the_running_server_rebuild_that_subscriptions_outputs(collector: Collector) -> None:
    sink = _TcpSink()
    try:
        outputs = (
            '[[outputs]]\ndriver = "Tcp"\nformat = "Raw"\n'
            f'config = {{ host = "127.0.0.1", port = {sink.port} }}\n'
        )
        collector.add_subscription(subscription_toml(outputs=outputs))
        collector.start()
        stats = _machine(collector, events=3).run()
        assert stats.events_acked == 3, stats.messages
        assert sink.connections == 1 and sink.closed == 0
        collector.wec("subscriptions", "reload", "e2e-security")
        # the old driver is closed: its connection ends; the next batch opens a new one
        _wait(collector, lambda: sink.closed == 1, "the Tcp output was not rebuilt")
        assert "reload requested, rebuilding its outputs" in collector.logs()
        (offered,) = _offers(collector)
        assert _post(collector, "WIN10$", offered, events=True) == 200
        _wait(collector, lambda: sink.connections == 2, "no new connection after reload")
    finally:
        sink.close()


def test_cli_stats_and_clients_see_the_machines_of_a_running_server(collector: Collector) -> None:
    collector.add_subscription(subscription_toml())
    collector.start()
    assert _machine(collector, "WIN10$", events=2).run().events_acked == 2
    (offered,) = _offers(collector, "WIN11$")
    assert _post(collector, "WIN11$", offered, events=False) == 200

    def both() -> bool:
        return '"total": 2' in collector.wec("stats", "-f", "json").stdout

    _wait(collector, both, "heartbeats not flushed")
    import json

    (s,) = json.loads(collector.wec("stats", "--format", "json").stdout)
    assert (s["active"], s["alive"], s["dead"]) == (1, 1, 0)
    machines = json.loads(collector.wec("subscriptions", "clients", "e2e-security", "-f", "json").stdout)
    states = {m["machine"]: m["state"] for m in machines["machines"]}
    assert states == {f"WIN10$@{collector.kdc.realm}": "Active", f"WIN11$@{collector.kdc.realm}": "Alive"}
    text = collector.wec("subscriptions", "clients", "e2e-security", "--alive").stdout
    assert "WIN11$" in text and "WIN10$" not in text
