# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTPS server over real loopback TLS (docs/tls.md): client certificates mandatory and
verified, the identity and issuer thumbprint on the connection's session, the handshake done
in the worker thread with a deadline, certificate reload with connections open, and every
refusal logged with the connection closed before any request reaches the app."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest import LogCaptureFixture as LogCapture

from tests.support.pki import Ca, Issued, write_chain
from tests.support.ports import free_port, wait_for_port
from wec.auth.tls import load_credentials
from wec.transport.server import ConnectionState, WecServer
from wec.transport.tls import TlsEndpoint, TlsServer

WAIT = 10.0  # upper bound of every wait in this module (seconds)
SERVER_NAME = "wec.test.local"


@dataclass
class Pki:
    directory: Path
    ca1: Ca
    ca2: Ca
    server: Issued
    win10: Issued  # issued by ca1
    ws2: Issued  # issued by ca2
    ca_file: Path
    cert_file: Path
    key_file: Path

    def endpoint(self, crl: Path | None = None) -> TlsEndpoint:
        return TlsEndpoint(
            lambda: load_credentials(
                str(self.ca_file), str(self.cert_file), str(self.key_file), str(crl) if crl else None
            ),
            "test",
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca1, ca2 = Ca("WEC Test CA 1"), Ca("WEC Test CA 2")
    server = ca1.issue(SERVER_NAME, client=False, server=True, dns=(SERVER_NAME,))
    cert_file, key_file = server.write(d, "server")
    return Pki(
        d,
        ca1,
        ca2,
        server,
        ca1.issue("win10.wec.test"),
        ca2.issue("ws2.other.test"),
        write_chain(d / "cas.pem", ca1, ca2),
        cert_file,
        key_file,
    )


class WhoApp:
    """Answers with what the connection's session says, as JSON; counts the requests."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.calls += 1
        state: ConnectionState = environ["wec.connection"]
        session = state.session
        body = json.dumps(
            {
                "principal": session.principal if session else None,
                "thumbprint": session.issuer_thumbprint if session else None,
                "scheme": session.url_scheme if session else None,
                "url_scheme": environ["wsgi.url_scheme"],
                "connection_id": state.connection_id,
                "remote_addr": environ["REMOTE_ADDR"],
            }
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class Running:
    def __init__(self, server: WecServer, app: WhoApp, port: int) -> None:
        self.server, self.app, self.port = server, app, port
        self.thread = threading.Thread(target=server.serve, name="wec-test-tls", daemon=True)
        self.thread.start()
        wait_for_port(port, timeout=WAIT)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(WAIT)


def serve(endpoint: TlsEndpoint | None, **kwargs: Any) -> Running:
    app = WhoApp()
    port = free_port()
    kwargs.setdefault("threads", 4)
    kwargs.setdefault("shutdown_timeout", 5)
    server: WecServer
    if endpoint is None:
        server = WecServer(("127.0.0.1", port), app, **kwargs)
    else:
        server = TlsServer(("127.0.0.1", port), app, endpoint=endpoint, **kwargs)
    server.prepare()
    return Running(server, app, port)


@pytest.fixture
def running(pki: Pki) -> Iterator[Running]:
    r = serve(pki.endpoint(), handshake_timeout=3)
    try:
        yield r
    finally:
        r.stop()


def client_context(
    pki: Pki, client: Issued | None, *, tls12: bool = False, ciphers: str | None = None
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pki.ca1.pem.decode())
    if client is not None:
        d = pki.directory / "clients"
        crt, key = client.write(d, f"c{client.cert.serial_number}")
        ctx.load_cert_chain(crt, key)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Client:
    """One keep-alive HTTPS connection (server name checked against the certificate)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, prefix: bytes = b"") -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        if prefix:
            raw.sendall(prefix)
        self.sock = ctx.wrap_socket(raw, server_hostname=SERVER_NAME)

    def get(self, path: str = "/who") -> tuple[int, dict[str, Any]]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n".encode())
        resp = http.client.HTTPResponse(self.sock)  # type: ignore[arg-type]
        resp.begin()
        body = resp.read()
        return resp.status, json.loads(body) if body else {}

    def close(self) -> None:
        self.sock.close()


def who(port: int, ctx: ssl.SSLContext) -> dict[str, Any]:
    c = Client(port, ctx)
    try:
        status, data = c.get()
        assert status == 200
        return data
    finally:
        c.close()


def refused(port: int, ctx: ssl.SSLContext) -> BaseException:
    """The connection fails (during the handshake, or at the first read in TLS 1.3)."""
    try:
        who(port, ctx)
    except (ssl.SSLError, OSError, http.client.HTTPException) as err:
        return err
    raise AssertionError("the connection was accepted")


def wait_log(caplog: LogCapture, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for r in caplog.records:
            if text in r.getMessage():
                return r.getMessage()
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}: {[r.getMessage() for r in caplog.records]}")


# --- accepted -------------------------------------------------------------------------------


def test_identity_is_the_cn_and_the_thumbprint_the_issuing_cas(running: Running, pki: Pki) -> None:
    data = who(running.port, client_context(pki, pki.win10))
    assert data["principal"] == "win10.wec.test"
    assert data["thumbprint"] == pki.ca1.thumbprint
    assert data["scheme"] == "https"
    assert data["url_scheme"] == "https"


def test_clients_of_each_configured_ca_get_their_own_thumbprint(running: Running, pki: Pki) -> None:
    other = who(running.port, client_context(pki, pki.ws2))
    assert other["principal"] == "ws2.other.test"
    assert other["thumbprint"] == pki.ca2.thumbprint != pki.ca1.thumbprint


def test_the_first_cn_of_the_subject_is_the_identity(running: Running, pki: Pki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    leaf = pki.ca1.issue("first.wec.test")
    # Re-issue with two CNs: Windows' identity is the first.
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "first.wec.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "second.wec.test"),
        ]
    )
    builder = x509.CertificateBuilder(
        issuer_name=leaf.cert.issuer,
        subject_name=subject,
        public_key=leaf.cert.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=leaf.cert.not_valid_before_utc,
        not_valid_after=leaf.cert.not_valid_after_utc,
        extensions=list(leaf.cert.extensions),
    )
    two = Issued(builder.sign(pki.ca1.key, hashes.SHA256()), leaf.key)
    assert who(running.port, client_context(pki, two))["principal"] == "first.wec.test"


def test_tls12_uses_ecdhe_aes_gcm(running: Running, pki: Pki) -> None:
    c = Client(running.port, client_context(pki, pki.win10, tls12=True))
    try:
        assert c.get()[0] == 200
        name, version, _ = c.sock.cipher() or ("", "", 0)
        assert version == "TLSv1.2"
        assert name.startswith("ECDHE-ECDSA-AES") and "GCM" in name
    finally:
        c.close()


def test_keep_alive_requests_share_one_session(running: Running, pki: Pki) -> None:
    c = Client(running.port, client_context(pki, pki.win10))
    try:
        first, second = c.get()[1], c.get()[1]
    finally:
        c.close()
    assert first["connection_id"] == second["connection_id"]
    assert second["principal"] == "win10.wec.test"


def test_proxy_header_in_front_of_tls(pki: Pki) -> None:
    r = serve(pki.endpoint(), proxy_protocol=True)
    try:
        proxy = b"PROXY TCP4 10.1.2.3 10.0.0.1 50000 5986\r\n"
        c = Client(r.port, client_context(pki, pki.win10), prefix=proxy)
        try:
            status, data = c.get()
        finally:
            c.close()
    finally:
        r.stop()
    assert status == 200
    assert data["remote_addr"] == "10.1.2.3"
    assert data["principal"] == "win10.wec.test"


# --- refused --------------------------------------------------------------------------------


def _assert_refused(running: Running, ctx: ssl.SSLContext, caplog: LogCapture, text: str) -> None:
    caplog.set_level(logging.INFO, logger="wec.transport")
    calls = running.app.calls
    refused(running.port, ctx)
    assert "TLS" in wait_log(caplog, text)
    assert running.app.calls == calls  # nothing reached the application


def test_no_client_certificate_is_refused(running: Running, pki: Pki, caplog: LogCapture) -> None:
    _assert_refused(running, client_context(pki, None), caplog, "no certificate")


def test_certificate_of_an_unknown_ca_is_refused(running: Running, pki: Pki, caplog: LogCapture) -> None:
    stranger = Ca("WEC Test CA 1").issue("intruder.wec.test")  # same name, other key
    _assert_refused(running, client_context(pki, stranger), caplog, "unable to get local issuer certificate")


def test_expired_certificate_is_refused(running: Running, pki: Pki, caplog: LogCapture) -> None:
    now = dt.datetime.now(dt.UTC)
    old = pki.ca1.issue(
        "old.wec.test", not_before=now - dt.timedelta(days=60), not_after=now - dt.timedelta(days=1)
    )
    _assert_refused(running, client_context(pki, old), caplog, "certificate has expired")


def test_not_yet_valid_certificate_is_refused(running: Running, pki: Pki, caplog: LogCapture) -> None:
    now = dt.datetime.now(dt.UTC)
    early = pki.ca1.issue("early.wec.test", not_before=now + dt.timedelta(days=1))
    _assert_refused(running, client_context(pki, early), caplog, "certificate is not yet valid")


def test_server_only_certificate_is_refused_as_client(running: Running, pki: Pki, caplog: LogCapture) -> None:
    server_only = pki.ca1.issue("web.wec.test", client=False, server=True)
    _assert_refused(running, client_context(pki, server_only), caplog, "unsuitable certificate purpose")


def test_revoked_certificate_is_refused_with_a_crl(pki: Pki, tmp_path: Path, caplog: LogCapture) -> None:
    revoked = pki.ca1.issue("stolen.wec.test")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(pki.ca1.crl([revoked]) + pki.ca2.crl([]))
    r = serve(pki.endpoint(crl))
    try:
        assert who(r.port, client_context(pki, pki.win10))["principal"] == "win10.wec.test"
        _assert_refused(r, client_context(pki, revoked), caplog, "certificate revoked")
    finally:
        r.stop()


def test_weak_tls12_suites_are_refused(running: Running, pki: Pki, caplog: LogCapture) -> None:
    ctx = client_context(pki, pki.win10, tls12=True, ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
    _assert_refused(running, ctx, caplog, "no cipher suite in common")


def test_certificate_without_cn_is_dropped(running: Running, pki: Pki, caplog: LogCapture) -> None:
    _assert_refused(running, client_context(pki, pki.ca1.issue(None)), caplog, "has no CN")


def test_plain_http_on_the_tls_port_gets_400(running: Running, caplog: LogCapture) -> None:
    caplog.set_level(logging.INFO, logger="wec.transport")
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=WAIT)
    try:
        conn.request("POST", "/wsman/", body=b"", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        assert resp.status == 400
        assert b"HTTPS" in resp.read()
    finally:
        conn.close()
    wait_log(caplog, "plain HTTP from")
    assert running.app.calls == 0


def test_tls_client_on_a_plain_port_is_closed_with_a_log_line(pki: Pki, caplog: LogCapture) -> None:
    caplog.set_level(logging.INFO, logger="wec.transport")
    r = serve(None)
    try:
        refused(r.port, client_context(pki, pki.win10))
        wait_log(caplog, "on a plain HTTP (Kerberos) port")
        assert r.app.calls == 0
    finally:
        r.stop()


def test_a_stalled_handshake_does_not_block_other_clients(pki: Pki, caplog: LogCapture) -> None:
    caplog.set_level(logging.INFO, logger="wec.transport")
    r = serve(pki.endpoint(), handshake_timeout=3)
    stalled = socket.create_connection(("127.0.0.1", r.port), timeout=WAIT)
    try:
        # The first bytes of a ClientHello record, then nothing.
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
        # Another source is accepted and served meanwhile.
        assert who(r.port, client_context(pki, pki.win10))["principal"] == "win10.wec.test"
        # The stalled one is closed by its deadline, with a log line.
        assert stalled.recv(1) == b""
        wait_log(caplog, "not completed within")
    finally:
        stalled.close()
        r.stop()


# --- reload ---------------------------------------------------------------------------------


def test_reload_keeps_established_connections_and_serves_new_files(
    pki: Pki, tmp_path: Path, caplog: LogCapture
) -> None:
    ca_file = write_chain(tmp_path / "ca.pem", pki.ca1)
    cert_file, key_file = pki.server.write(tmp_path, "server")
    endpoint = TlsEndpoint(lambda: load_credentials(str(ca_file), str(cert_file), str(key_file)), "reload")
    r = serve(endpoint)
    try:
        established = Client(r.port, client_context(pki, pki.win10))
        try:
            status, before = established.get()
            assert status == 200
            old_serial = established.sock.getpeercert()["serialNumber"]  # type: ignore[index]
            refused(r.port, client_context(pki, pki.ws2))  # CA 2 not trusted yet

            renewed = pki.ca1.issue(SERVER_NAME, client=False, server=True, dns=(SERVER_NAME,))
            renewed.write(tmp_path, "server")
            write_chain(ca_file, pki.ca1, pki.ca2)
            assert endpoint.reload()

            status, after = established.get()  # the open connection is undisturbed
            assert status == 200 and after["connection_id"] == before["connection_id"]
            fresh = Client(r.port, client_context(pki, pki.ws2))  # CA 2 trusted now
            try:
                assert fresh.get()[1]["thumbprint"] == pki.ca2.thumbprint
                assert fresh.sock.getpeercert()["serialNumber"] != old_serial  # type: ignore[index]
            finally:
                fresh.close()

            ca_file.write_text("not a certificate")  # a broken reload keeps the current files
            assert not endpoint.reload()
            wait_log(caplog, "TLS reload failed")
            assert who(r.port, client_context(pki, pki.ws2))["principal"] == "ws2.other.test"
        finally:
            established.close()
    finally:
        r.stop()


@pytest.mark.parametrize("tls12", [False, True])
def test_no_session_ticket_outlives_the_certificate_checks(running: Running, pki: Pki, tls12: bool) -> None:
    c = Client(running.port, client_context(pki, pki.win10, tls12=tls12))
    try:
        assert c.get()[0] == 200  # TLS 1.3 tickets would have arrived with the response
        session = c.sock.session
        assert session is not None and not session.has_ticket
    finally:
        c.close()
