# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS collectors end to end (docs/tls.md): the real wecd serving a Kerberos port and a TLS
port, the simulator forwarding over HTTPS with one client certificate per machine, the
Enumerate response's Policy naming each source's issuing CA, every refusal logged with the
state untouched, and certificate rotation on SIGHUP with a connection open."""

from __future__ import annotations

import datetime as dt
import http.client
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.e2e.conftest import output_keys, run_sim
from tests.e2e.harness import subscription_toml
from tests.e2e.test_hostile import _heartbeat_for, state_is_untouched
from tests.e2e.tls_harness import SERVER_NAME, TlsCollector, TlsPki, make_pki
from tests.support.kdc import Kdc
from tests.support.pki import Ca
from wec.sim import soap
from wec.sim.machine import Machine, MachineConfig
from wec.sim.runner import RunConfig, run_machines
from wec.sim.transport import TransportError, WinRMConnection

pytestmark = pytest.mark.e2e

PROFILE_MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return make_pki(tmp_path_factory.mktemp("tls-pki"))


@pytest.fixture
def tls_collector(tmp_path: Path, kdc: Kdc, pki: TlsPki) -> Iterator[TlsCollector]:
    c = TlsCollector(tmp_path / "collector", kdc, pki=pki)
    c.add_subscription(subscription_toml())
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def running(tls_collector: TlsCollector) -> TlsCollector:
    tls_collector.start()
    return tls_collector


def tls_machines(collector: TlsCollector, machines: int = 3, events: int = 40) -> RunConfig:
    assert collector.pki is not None
    template = MachineConfig(
        manager_url=collector.tls_url,
        computer="",
        connect_to=("127.0.0.1", collector.tls_port),
        auth="tls",
        tls_ca=str(collector.pki.server_ca),
        events=events,
        batch_size=15,
        duration_s=60.0,
        track_keys=True,
        max_retries=3,
        retry_backoff_s=0.2,
        retry_backoff_max_s=1.0,
        timeout_s=20.0,
    )
    return RunConfig(template=template, machines=machines, tls_client_dir=str(collector.pki.client_dir))


def clients_in(collector: TlsCollector, table: str) -> set[str]:
    db = sqlite3.connect(collector.directory / "wec.sqlite")
    try:
        return {row[0] for row in db.execute(f"select client from {table}")}
    finally:
        db.close()


# --- delivery -------------------------------------------------------------------------------


def test_events_are_delivered_over_https_with_the_cn_as_identity(running: TlsCollector) -> None:
    summary = run_machines(tls_machines(running))
    assert summary.ok, summary.to_dict()
    assert summary.events_acked == 3 * 40
    sent = set(summary.acked_keys())
    assert set(output_keys(running)) == sent
    # {client} of the Files path, and the bookmarks, are keyed by the certificate CN.
    dirs = {p.parent.name for p in running.output_files()}
    assert dirs == {"sim001.wec.test.local", "sim002.wec.test.local", "sim003.wec.test.local"}
    assert running.wait_for(lambda: clients_in(running, "bookmarks") == dirs, 10), clients_in(
        running, "bookmarks"
    )


def test_the_kerberos_port_is_served_alongside(running: TlsCollector, keytab_dir: Path) -> None:
    summary = run_sim(running, keytab_dir, machines=1, events=20)
    assert summary.ok, summary.to_dict()
    assert "(Tls)" in running.logs() and "(Kerberos)" in running.logs()


@pytest.mark.parametrize(("fqdn", "ca"), [("sim001.wec.test.local", "ca1"), ("sim003.wec.test.local", "ca2")])
def test_policy_names_the_ca_that_issued_the_source_certificate(
    running: TlsCollector, fqdn: str, ca: str
) -> None:
    assert running.pki is not None
    cfg = machine_configs_for(running, fqdn)
    response = Machine(cfg).enumerate()
    (offer,) = response.subscriptions
    issuer: Ca = getattr(running.pki, ca)
    assert offer.auth_profile == PROFILE_MUTUAL
    assert offer.issuer_thumbprints == (issuer.thumbprint,)
    assert offer.notify_to.startswith(f"https://{SERVER_NAME}:{running.tls_port}/wsman/subscriptions/")


def machine_configs_for(collector: TlsCollector, fqdn: str) -> MachineConfig:
    run = tls_machines(collector, machines=1)
    n = int(fqdn[3:6])
    return replace(
        run.template,
        computer=fqdn,
        tls_cert=str(Path(run.tls_client_dir or "") / f"{fqdn}.crt"),
        tls_key=str(Path(run.tls_client_dir or "") / f"{fqdn}.key"),
        seed=n,
    )


# --- refusals -------------------------------------------------------------------------------


def _heartbeat_over(conn: WinRMConnection) -> int:
    return conn.post(_heartbeat_for(conn), compress=True).status


def refused_connection(collector: TlsCollector, conn: WinRMConnection) -> None:
    try:
        status = _heartbeat_over(conn)
    except (TransportError, OSError, ssl.SSLError):
        return
    finally:
        conn.close()
    raise AssertionError(f"the connection was served ({status})")


def test_no_client_certificate_is_refused(running: TlsCollector) -> None:
    refused_connection(running, running.connect(None, "/wsman/subscriptions/X"))
    assert running.wait_for(lambda: "the client sent no certificate" in running.logs(), 10)
    assert state_is_untouched(running)


def test_certificate_from_an_unknown_ca_is_refused(running: TlsCollector) -> None:
    stranger = Ca("WEC E2E CA 1").issue("sim001.wec.test.local")  # a look-alike CA
    refused_connection(running, running.connect(stranger))
    assert running.wait_for(lambda: "unable to get local issuer certificate" in running.logs(), 10)
    assert state_is_untouched(running)


def test_expired_certificate_is_refused(running: TlsCollector) -> None:
    assert running.pki is not None
    now = dt.datetime.now(dt.UTC)
    expired = running.pki.ca1.issue(
        "sim001.wec.test.local", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(hours=1)
    )
    refused_connection(running, running.connect(expired))
    assert running.wait_for(lambda: "certificate has expired" in running.logs(), 10)
    assert state_is_untouched(running)


def test_server_only_certificate_is_refused_as_a_client(running: TlsCollector) -> None:
    assert running.pki is not None
    server_only = running.pki.ca1.issue("sim001.wec.test.local", client=False, server=True)
    refused_connection(running, running.connect(server_only))
    assert running.wait_for(lambda: "unsuitable certificate purpose" in running.logs(), 10)
    assert state_is_untouched(running)


def test_plain_http_on_the_tls_port_is_400(running: TlsCollector) -> None:
    c = http.client.HTTPConnection("127.0.0.1", running.tls_port, timeout=20)
    try:
        c.request("POST", "/wsman/", body=b"", headers={"Content-Length": "0"})
        assert c.getresponse().status == 400
    finally:
        c.close()
    assert running.wait_for(lambda: "plain HTTP from" in running.logs(), 10)
    assert state_is_untouched(running)


def test_a_tls_client_on_the_kerberos_port_is_closed(running: TlsCollector) -> None:
    assert running.pki is not None
    ctx = running.pki.context(running.pki.clients["sim001.wec.test.local"])
    with (
        socket.create_connection(("127.0.0.1", running.port), timeout=20) as raw,
        pytest.raises((ssl.SSLError, OSError)),
    ):
        ctx.wrap_socket(raw, server_hostname=SERVER_NAME)
    assert running.wait_for(lambda: "on a plain HTTP (Kerberos) port" in running.logs(), 10)
    assert state_is_untouched(running)


def test_an_encrypted_key_stops_wecd_at_startup(tls_collector: TlsCollector) -> None:
    key = tls_collector.tls_files / "server.key"
    key.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")
    tls_collector.wec("db", "init")
    proc = subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(tls_collector.config)],
        env=tls_collector.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "the private key is encrypted" in proc.stderr


# --- rotation -------------------------------------------------------------------------------


def test_sighup_rotates_certificates_without_dropping_connections(running: TlsCollector) -> None:
    assert running.pki is not None and running.proc is not None
    sim001 = running.pki.clients["sim001.wec.test.local"]
    endpoint = "/wsman/subscriptions/" + "7d3c6a1e-58b2-4f0a-9c1d-2e4b6f8a0c13".upper()
    conn = running.connect(sim001, endpoint)
    try:
        assert _heartbeat_over(conn) == 200
        sock = conn._http._sock
        assert isinstance(sock, ssl.SSLSocket)
        old_serial = sock.getpeercert()["serialNumber"]  # type: ignore[index]

        renewed = running.pki.ca1.issue(SERVER_NAME, client=False, server=True, dns=(SERVER_NAME,))
        renewed.write(running.tls_files, "server")
        running.proc.send_signal(signal.SIGHUP)
        assert running.wait_for(lambda: "TLS certificates reloaded" in running.logs(), 20)

        assert _heartbeat_over(conn) == 200  # the established connection goes on
        assert conn._http._sock is sock
        fresh = running.connect(sim001, endpoint)
        try:
            assert _heartbeat_over(fresh) == 200
            new_sock = fresh._http._sock
            assert isinstance(new_sock, ssl.SSLSocket)
            assert new_sock.getpeercert()["serialNumber"] != old_serial  # type: ignore[index]
        finally:
            fresh.close()
    finally:
        conn.close()
    assert clients_in(running, "heartbeats") == {"sim001.wec.test.local"} or running.wait_for(
        lambda: clients_in(running, "heartbeats") == {"sim001.wec.test.local"}, 10
    )


def test_a_broken_file_on_sighup_keeps_the_current_certificates(running: TlsCollector) -> None:
    assert running.pki is not None and running.proc is not None
    (running.tls_files / "ca.pem").write_text("garbage")
    running.proc.send_signal(signal.SIGHUP)
    assert running.wait_for(lambda: "TLS reload failed" in running.logs(), 20)
    conn = running.connect(running.pki.clients["sim003.wec.test.local"], "/wsman/")
    try:
        text = soap.build_enumerate(
            to=conn.url,
            machine_id="sim003.wec.test.local",
            message_id=soap.new_uuid(),
            session_id=soap.new_uuid(),
            operation_id=soap.new_uuid(),
        )
        assert conn.post(soap.encode_utf16(text)).status == 200
    finally:
        conn.close()


def test_wec_sim_command_line_over_https(running: TlsCollector, capsys: pytest.CaptureFixture[str]) -> None:
    from wec.sim.cli import main

    assert running.pki is not None
    argv = [
        "--manager-url",
        running.tls_url,
        "--connect",
        f"127.0.0.1:{running.tls_port}",
        "--tls-ca",
        str(running.pki.server_ca),
        "--tls-client-dir",
        str(running.pki.client_dir),
        "--machines",
        "3",
        "--events",
        "10",
        "--duration",
        "60",
        "--json",
    ]
    assert main(argv) == 0, capsys.readouterr()
    assert '"events_acked": 30' in capsys.readouterr().out


def test_the_demo_with_tls_forwards_over_both_transports(tmp_path: Path) -> None:
    import os

    from tests.e2e.harness import ROOT
    from tests.support.ports import free_port

    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))}
    for key in ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME"):
        env.pop(key, None)  # the demo brings its own KDC
    argv = ["--state", str(tmp_path / "state"), "--port", str(free_port()), "--tls", "--tls-port"]
    argv += [str(free_port()), "--machines", "2", "--events", "20"]
    proc = subprocess.run(
        [sys.executable, "-m", "wec.demo", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "HTTPS simulator: 40 events acked of 40 sent" in proc.stdout
    sources = {p.parent.name for p in (tmp_path / "state" / "events").rglob("*.jsonl")}
    assert {"tls01.wec.test.local", "tls02.wec.test.local"} <= sources, sources


def test_worker_processes_serve_tls_and_reload_it(tmp_path: Path, kdc: Kdc, pki: TlsPki) -> None:
    c = TlsCollector(tmp_path / "workers", kdc, pki=pki, extra_settings="worker_processes = 2")
    c.add_subscription(subscription_toml())
    c.start()
    try:
        summary = run_machines(tls_machines(c, machines=2, events=20))
        assert summary.ok, summary.to_dict()
        assert c.proc is not None
        c.proc.send_signal(signal.SIGHUP)  # forwarded to each worker
        assert c.wait_for(lambda: c.logs().count("TLS certificates reloaded") >= 2, 30), c.logs()[-3000:]
    finally:
        c.stop()
