# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile and malformed requests against the real wecd: each gets a clear 4xx and a log
line, and leaves the state (bookmarks, heartbeats, outputs) untouched."""

from __future__ import annotations

import base64
import http.client
import sqlite3
from collections.abc import Iterator

import pytest

from tests.e2e.harness import SUBSCRIPTION_UUID, Collector
from wec.sim import soap
from wec.sim.sldc import compress
from wec.sim.transport import (
    BOUNDARY,
    ClientSecurity,
    HttpResponse,
    WinRMConnection,
    acquire_credentials,
    encode_multipart,
)

pytestmark = pytest.mark.e2e

ENDPOINT = f"/wsman/subscriptions/{SUBSCRIPTION_UUID.upper()}"
KERBEROS = "application/HTTP-Kerberos-session-encrypted"


@pytest.fixture
def running(collector: Collector) -> Iterator[Collector]:
    collector.start()
    yield collector


_OPEN: list[WinRMConnection] = []


@pytest.fixture(autouse=True)
def _close_sessions() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def open_session(
    collector: Collector, path: str = ENDPOINT, principal: str = "WIN10$@WEC.TEST"
) -> WinRMConnection:
    """An authenticated connection (the Windows way: empty POST with Authorization: Kerberos).
    Closed at the end of the test."""
    keytab = collector.kdc.client_keytabs[principal]
    security = ClientSecurity(mode="kerberos", credentials=acquire_credentials(principal, str(keytab)))
    conn = WinRMConnection(
        f"http://wec.test.local:{collector.port}{path}",
        security,
        connect_to=("127.0.0.1", collector.port),
        timeout=20,
    )
    _OPEN.append(conn)
    conn.open()
    return conn


def post_heartbeat(conn: WinRMConnection) -> int:
    return conn.post(_heartbeat_for(conn), compress=True).status


def _heartbeat_for(conn: WinRMConnection) -> bytes:
    refs = [
        soap.RefParam(
            "http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", SUBSCRIPTION_UUID.upper()
        ),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]
    return soap.encode_utf16(
        soap.build_heartbeat(
            to=conn.url,
            machine_id="win10.wec.test",
            message_id=soap.new_uuid(),
            refs=refs,
            session_id=soap.new_uuid(),
            operation_id=soap.new_uuid(),
        )
    )


def send_raw(conn: WinRMConnection, body: bytes, headers: list[tuple[str, str]]) -> HttpResponse:
    """Send bytes as they are on the authenticated connection (bypassing the sim's encoder)."""
    base = [("Connection", "Keep-Alive"), ("User-Agent", "Microsoft WinRM Client")]
    return conn._http.request(
        "POST",
        conn.target,
        [*base, *headers, ("Content-Length", str(len(body))), ("Host", conn.host_header)],
        body,
    )


def encrypted(conn: WinRMConnection, cleartext: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    header, data = conn._wrap(cleartext)
    body = encode_multipart(KERBEROS, header, data, len(cleartext))
    return body, [("Content-Type", f'multipart/encrypted;protocol="{KERBEROS}";boundary="{BOUNDARY}"')]


def state_is_untouched(collector: Collector) -> bool:
    db = sqlite3.connect(collector.directory / "wec.sqlite")
    try:
        bookmarks = db.execute("select count(*) from bookmarks").fetchone()[0]
        heartbeats = db.execute("select count(*) from heartbeats").fetchone()[0]
    finally:
        db.close()
    return bookmarks == 0 and heartbeats == 0 and not collector.output_files()


def plain_post(
    collector: Collector,
    body: bytes,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = ENDPOINT,
) -> http.client.HTTPResponse:
    c = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=20)
    c.request(method, path, body=body, headers=headers or {})
    resp = c.getresponse()
    resp.read()
    c.close()
    return resp


def test_no_authorization_gets_401_with_both_challenges(running: Collector) -> None:
    resp = plain_post(running, b"<s:Envelope/>", {"Content-Type": "application/soap+xml;charset=UTF-16"})
    assert resp.status == 401
    assert sorted(resp.headers.get_all("WWW-Authenticate") or []) == ["Kerberos", "Negotiate"]
    assert "no Authorization" in running.logs()


@pytest.mark.parametrize(
    "authorization",
    [
        "Kerberos AAAA",
        "Negotiate !!notbase64",
        "Basic dXNlcjpwdw==",
        "Negotiate " + base64.b64encode(b"NTLMSSP\0\1\0\0\0").decode(),
    ],
)
def test_bad_authorization_gets_401(running: Collector, authorization: str) -> None:
    resp = plain_post(running, b"", {"Authorization": authorization})
    assert resp.status == 401
    assert "authentication failed" in running.logs()
    assert state_is_untouched(running)


def test_get_is_401_before_authentication_and_404_after(running: Collector) -> None:
    assert plain_post(running, b"", method="GET").status == 401  # OpenWEC: authentication first
    conn = open_session(running)
    resp = conn._http.request("GET", conn.target, [("Host", conn.host_header), ("Content-Length", "0")], b"")
    assert resp.status == 404


def test_plaintext_soap_after_authentication_is_refused(running: Collector) -> None:
    conn = open_session(running)
    resp = send_raw(conn, _heartbeat_for(conn), [("Content-Type", "application/soap+xml;charset=UTF-16")])
    assert resp.status == 400
    assert state_is_untouched(running)


def test_tampered_ciphertext_is_400_and_changes_nothing(running: Collector) -> None:
    conn = open_session(running)
    body, headers = encrypted(conn, compress(_heartbeat_for(conn)))
    tampered = bytearray(body)
    tampered[-40] ^= 0x01  # inside the ciphertext, before the closing delimiter
    resp = send_raw(conn, bytes(tampered), [*headers, ("Content-Encoding", "SLDC")])
    assert resp.status == 400
    assert "cannot decrypt" in running.logs()
    assert state_is_untouched(running)


def test_replayed_body_is_refused(running: Collector) -> None:
    conn = open_session(running)
    body, headers = encrypted(conn, compress(_heartbeat_for(conn)))
    headers = [*headers, ("Content-Encoding", "SLDC")]
    assert send_raw(conn, body, headers).status == 200
    # Same bytes again on the same connection: an old sequence number.
    assert send_raw(conn, body, headers).status == 400
    # ...and on a fresh connection, which never authenticated: 401.
    other = WinRMConnection(conn.url, conn.security, connect_to=("127.0.0.1", running.port))
    _OPEN.append(other)
    other._http.connect()
    assert send_raw(other, body, headers).status == 401


def test_body_sealed_with_another_connections_key_is_refused(running: Collector) -> None:
    a = open_session(running)
    b = open_session(running)
    body, headers = encrypted(a, compress(_heartbeat_for(a)))
    assert send_raw(b, body, [*headers, ("Content-Encoding", "SLDC")]).status == 400
    assert state_is_untouched(running)


def test_body_over_max_content_length_is_413(running: Collector) -> None:
    conn = open_session(running)
    big = b"\0" * (running.max_content_length + 1)
    resp = send_raw(
        conn, big, [("Content-Type", f'multipart/encrypted;protocol="{KERBEROS}";boundary="{BOUNDARY}"')]
    )
    assert resp.status == 413
    assert "max_content_length" in running.logs()


def test_chunked_body_is_400(running: Collector) -> None:
    c = http.client.HTTPConnection("127.0.0.1", running.port, timeout=20)
    c.putrequest("POST", ENDPOINT)
    c.putheader("Transfer-Encoding", "chunked")
    c.putheader("Authorization", "Kerberos AAAA")
    c.endheaders()
    c.send(b"5\r\nhello\r\n0\r\n\r\n")
    assert c.getresponse().status == 400


@pytest.mark.parametrize(
    "payload",
    [
        # billion laughs
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>&lol2;</s:Body></s:Envelope>',
        # external entity
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&xxe;</s:Body></s:Envelope>',
        # not XML at all
        "this is not xml",
        # well-formed, but no Action
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>',
    ],
)
def test_hostile_or_malformed_xml_is_400(running: Collector, payload: str) -> None:
    conn = open_session(running)
    body, headers = encrypted(conn, soap.encode_utf16(payload))
    assert send_raw(conn, body, headers).status == 400
    assert "bad SOAP message" in running.logs()
    assert "root:" not in running.logs()  # /etc/passwd never expanded into anything we log
    assert state_is_untouched(running)


def test_invalid_sldc_is_400(running: Collector) -> None:
    conn = open_session(running)
    body, headers = encrypted(conn, b"\xff\xa0\x00garbage-that-is-not-sldc")
    assert send_raw(conn, body, [*headers, ("Content-Encoding", "SLDC")]).status == 400
    assert "invalid SLDC" in running.logs()


def test_unknown_content_encoding_is_400(running: Collector) -> None:
    conn = open_session(running)
    body, headers = encrypted(conn, _heartbeat_for(conn))
    assert send_raw(conn, body, [*headers, ("Content-Encoding", "gzip")]).status == 400


def test_enumerate_on_a_subscription_endpoint_is_400(running: Collector) -> None:
    conn = open_session(running)
    text = soap.build_enumerate(
        to=conn.url,
        machine_id="win10.wec.test",
        message_id=soap.new_uuid(),
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    assert conn.post(soap.encode_utf16(text)).status == 400


def test_unknown_subscription_is_404(running: Collector) -> None:
    conn = open_session(running)
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
        machine_id="win10",
        message_id=soap.new_uuid(),
        refs=refs,
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    assert conn.post(soap.encode_utf16(text), compress=True).status == 404
    assert state_is_untouched(running)


def test_a_valid_heartbeat_is_acked_and_recorded(running: Collector) -> None:
    conn = open_session(running)
    resp = conn.post(_heartbeat_for(conn), compress=True)
    assert resp.status == 200
    assert b"A\x00c\x00k\x00" in resp.body  # the UTF-16 Ack action
    assert running.wait_for(lambda: not state_is_untouched(running), 10)


@pytest.mark.parametrize("length", ["+5", "-5", "5, 5"])
def test_an_ambiguous_content_length_is_refused(running: Collector, length: str) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        s.sendall(f"POST {ENDPOINT} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\nhello".encode())
        status = s.recv(4096).split(b"\r\n", 1)[0]
    assert status.split(b" ")[1].startswith(b"4"), status
    assert state_is_untouched(running)
