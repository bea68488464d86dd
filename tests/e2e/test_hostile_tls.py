# SPDX-License-Identifier: GPL-3.0-or-later
"""The key cases of test_hostile.py again, over HTTPS with a valid client certificate: a
source that passed the TLS handshake gets the same clear 4xx and log line for a bad request,
and the state (bookmarks, heartbeats, outputs) stays untouched."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import SUBSCRIPTION_UUID, subscription_toml
from tests.e2e.test_hostile import ENDPOINT, _heartbeat_for, send_raw, state_is_untouched
from tests.e2e.test_tls import pki  # noqa: F401  (the module's PKI fixture)
from tests.e2e.tls_harness import SERVER_NAME, TlsCollector, TlsPki
from tests.support.kdc import Kdc
from wec.sim import soap
from wec.sim.sldc import compress
from wec.sim.transport import WinRMConnection

pytestmark = pytest.mark.e2e

SOAP = "application/soap+xml;charset=UTF-16"
HOSTILE_XML = [
    # billion laughs
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>&lol2;</s:Body></s:Envelope>',
    # external entity
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&xxe;</s:Body></s:Envelope>',
    "this is not xml",
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>',
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, kdc: Kdc, pki: TlsPki) -> Iterator[TlsCollector]:  # noqa: F811
    """One collector for the module: every case leaves its state untouched, which each test
    checks, so they can share it."""
    c = TlsCollector(tmp_path_factory.mktemp("hostile-tls") / "collector", kdc, pki=pki)
    c.add_subscription(subscription_toml())
    c.start()
    try:
        yield c
    finally:
        c.stop()


_OPEN: list[WinRMConnection] = []


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def session(collector: TlsCollector, path: str = ENDPOINT) -> WinRMConnection:
    assert collector.pki is not None
    conn = collector.connect(collector.pki.clients["sim002.wec.test.local"], path)
    _OPEN.append(conn)
    conn.open()
    return conn


@pytest.mark.parametrize("payload", HOSTILE_XML)
def test_hostile_or_malformed_xml_is_400(running: TlsCollector, payload: str) -> None:
    conn = session(running)
    assert send_raw(conn, soap.encode_utf16(payload), [("Content-Type", SOAP)]).status == 400
    assert "bad SOAP message" in running.logs()
    assert "root:" not in running.logs()
    assert state_is_untouched(running)


def test_invalid_sldc_is_400(running: TlsCollector) -> None:
    conn = session(running)
    resp = send_raw(
        conn, b"\xff\xa0\x00garbage-that-is-not-sldc", [("Content-Type", SOAP), ("Content-Encoding", "SLDC")]
    )
    assert resp.status == 400
    assert "invalid SLDC" in running.logs()
    assert state_is_untouched(running)


def test_unknown_content_encoding_is_400(running: TlsCollector) -> None:
    conn = session(running)
    resp = send_raw(conn, _heartbeat_for(conn), [("Content-Type", SOAP), ("Content-Encoding", "gzip")])
    assert resp.status == 400
    assert state_is_untouched(running)


def test_a_kerberos_multipart_body_on_tls_is_400(running: TlsCollector) -> None:
    conn = session(running)
    ctype = 'multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="x"'
    resp = send_raw(
        conn, compress(_heartbeat_for(conn)), [("Content-Type", ctype), ("Content-Encoding", "SLDC")]
    )
    assert resp.status == 400
    assert "on a TLS connection" in running.logs()
    assert state_is_untouched(running)


def test_body_over_max_content_length_is_413(running: TlsCollector) -> None:
    conn = session(running)
    resp = send_raw(conn, b"\0" * (running.max_content_length + 1), [("Content-Type", SOAP)])
    assert resp.status == 413
    assert "max_content_length" in running.logs()
    assert state_is_untouched(running)


def test_chunked_body_is_400(running: TlsCollector) -> None:
    conn = session(running)
    resp = conn._http.request(
        "POST",
        conn.target,
        [("Host", conn.host_header), ("Transfer-Encoding", "chunked"), ("Content-Type", SOAP)],
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    assert resp.status == 400
    assert state_is_untouched(running)


def test_enumerate_on_a_subscription_endpoint_is_400(running: TlsCollector) -> None:
    conn = session(running)
    text = soap.build_enumerate(
        to=conn.url,
        machine_id="sim002.wec.test.local",
        message_id=soap.new_uuid(),
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    assert conn.post(soap.encode_utf16(text)).status == 400
    assert state_is_untouched(running)


def test_unknown_subscription_is_404(running: TlsCollector) -> None:
    conn = session(running)
    refs = [
        soap.RefParam(
            "http://schemas.xmlsoap.org/ws/2004/08/eventing",
            "Identifier",
            "11111111-2222-4333-8444-555555555555",
        ),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]
    text = soap.build_heartbeat(
        to=conn.url,
        machine_id="sim002",
        message_id=soap.new_uuid(),
        refs=refs,
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    assert conn.post(soap.encode_utf16(text), compress=True).status == 404
    assert state_is_untouched(running)


def test_get_is_404(running: TlsCollector) -> None:
    conn = session(running)
    resp = conn._http.request("GET", conn.target, [("Host", conn.host_header), ("Content-Length", "0")], b"")
    assert resp.status == 404
    assert state_is_untouched(running)


@pytest.mark.parametrize("length", ["+5", "-5", "5, 5"])
def test_an_ambiguous_content_length_is_refused(running: TlsCollector, length: str) -> None:
    assert running.pki is not None
    ctx = running.pki.context(running.pki.clients["sim002.wec.test.local"])
    with (
        socket.create_connection(("127.0.0.1", running.tls_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s,
    ):
        s.sendall(f"POST {ENDPOINT} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nhello".encode())
        status = s.recv(4096).split(b"\r\n", 1)[0]
    assert status.split(b" ")[1].startswith(b"4"), status
    assert state_is_untouched(running)


def test_a_certificate_with_an_empty_cn_gets_401(running: TlsCollector, tmp_path: Path) -> None:
    assert running.pki is not None
    empty = running.pki.ca1.issue("placeholder")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    from tests.support.pki import Issued

    with warnings.catch_warnings():  # cryptography warns about a CN shorter than 1 character
        warnings.simplefilter("ignore")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "", _validate=False)])
    cert = (
        x509.CertificateBuilder(
            issuer_name=empty.cert.issuer,
            subject_name=subject,
            public_key=empty.cert.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=empty.cert.not_valid_before_utc,
            not_valid_after=empty.cert.not_valid_after_utc,
            extensions=list(empty.cert.extensions),
        )
    ).sign(running.pki.ca1.key, hashes.SHA256())
    conn = running.connect(Issued(cert, empty.key), ENDPOINT)
    _OPEN.append(conn)
    try:
        status = conn.post(_heartbeat_for(conn), compress=True).status
    except (OSError, ssl.SSLError) as err:  # OpenSSL may refuse such a name outright
        pytest.skip(f"an empty CN is refused by the TLS layer already: {err}")
    assert status == 401
    assert "empty subject CN" in running.logs()
    assert state_is_untouched(running)


def test_a_valid_heartbeat_over_tls_is_acked(running: TlsCollector) -> None:
    # Last in the module: it records a heartbeat, which the other cases must not see.
    conn = session(running)
    resp = conn.post(_heartbeat_for(conn), compress=True)
    assert resp.status == 200
    assert b"A\x00c\x00k\x00" in resp.body
    assert running.wait_for(lambda: not state_is_untouched(running), 10)
    assert SUBSCRIPTION_UUID  # the endpoint's subscription is the harness's
