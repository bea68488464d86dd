# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP framing, Windows' multipart/encrypted layout and the Kerberos handshake of the simulator."""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.fake_collector import CollectorState, FakeCollector, FakeSubscription
from tests.support.kdc import Kdc
from wec.sim import soap
from wec.sim.transport import (
    AuthError,
    ClientSecurity,
    HttpConnection,
    TransportError,
    WinRMConnection,
    acquire_credentials,
    decode_multipart,
    encode_multipart,
)

KRB = "application/HTTP-Kerberos-session-encrypted"
PRINCIPAL = "WIN10$@WEC.TEST"


@settings(max_examples=60, deadline=None)
@given(h=st.integers(0, 120), length=st.integers(0, 70000))
def test_multipart_size_follows_the_windows_formula(h: int, length: int) -> None:
    body = encode_multipart(KRB, b"H" * h, b"C" * length, length)
    assert len(body) == 234 + len(str(length)) + 4 + h + length  # docs/protocol.md §4
    assert decode_multipart(body) == (b"H" * h, b"C" * length, length)


def test_multipart_layout_is_byte_exact() -> None:
    body = encode_multipart(KRB, b"\x01\x02", b"xyz", 1006)
    assert body == (
        b"--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
        b"OriginalContent: type=application/soap+xml;charset=UTF-16;Length=1006\r\n"
        b"--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n"
        b"\x02\x00\x00\x00\x01\x02xyz--Encrypted Boundary--\r\n"
    )


def test_multipart_also_reads_the_ms_wsmv_form_with_tabs() -> None:
    body = (
        b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-16;Length=3\r\n"
        b"--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"
        b"\x01\x00\x00\x00Hxyz\r\n--Encrypted Boundary--\r\n"
    )
    assert decode_multipart(body) == (b"H", b"xyz", 3)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n\x05\x00",
        b"--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n"
        b"\xff\x00\x00\x00ab--Encrypted Boundary--",
    ],
)
def test_bad_multipart_raises_transport_error(body: bytes) -> None:
    with pytest.raises(TransportError):
        decode_multipart(body)


# -- HTTP over a scripted raw socket -----------------------------------------------------------


def _server(script: list[bytes]) -> tuple[int, list[bytes], threading.Thread, socket.socket]:
    seen: list[bytes] = []
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(5)
            for reply in script:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                seen.append(data)
                conn.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], seen, t, srv


def test_keep_alive_chunked_and_connection_close_responses() -> None:
    port, seen, t, srv = _server(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n",
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ]
    )
    try:
        c = HttpConnection("127.0.0.1", port, timeout=5)
        assert c.request("POST", "/a", [("Host", "x")], b"1").body == b"abc"
        assert c.request("POST", "/a", [("Host", "x")], b"2").body == b"def"
        r = c.request("POST", "/a", [("Host", "x")], b"3")
        assert r.status == 503 and not c.connected
        assert len(seen) == 3  # one TCP connection carried all three
    finally:
        t.join(5)
        srv.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"",
    ],
)
def test_broken_http_raises_transport_error(reply: bytes) -> None:
    port, _, t, srv = _server([reply])
    try:
        c = HttpConnection("127.0.0.1", port, timeout=5)
        with pytest.raises(TransportError):
            c.request("POST", "/", [("Host", "x")], b"")
        assert not c.connected
    finally:
        srv.close()
        t.join(5)


# -- Kerberos session ---------------------------------------------------------------------------


def test_requests_have_windows_header_order_and_a_60_byte_aes_header(kdc: Kdc) -> None:
    st_ = CollectorState([FakeSubscription("9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95", "s")], kdc.service_keytab)
    with FakeCollector(st_) as fc:
        creds = acquire_credentials(PRINCIPAL, kdc.client_keytabs[PRINCIPAL])
        conn = WinRMConnection(
            f"http://wec.test.local:{fc.port}/wsman/SubscriptionManager/WEC",
            ClientSecurity(credentials=creds),
            connect_to=("127.0.0.1", fc.port),
        )
        mid = soap.new_uuid()
        xml = soap.build_enumerate(conn.url, "pc", mid, soap.new_uuid(), soap.new_uuid())
        resp = conn.post(soap.encode_utf16(xml))
        conn.close()
    assert resp.status == 200
    assert soap.parse_enumerate_response(resp.body).relates_to == mid  # decrypted with unwrap_iov
    (auth,) = st_.auth_headers
    assert [k for k, _ in auth] == [
        "Connection",
        "Content-Type",
        "Authorization",
        "User-Agent",
        "Content-Length",
        "Host",
    ]
    assert dict(auth)["Authorization"].startswith("Kerberos YII")  # a bare krb5 token (0x60 ...)
    assert (
        dict(auth)["Host"] == f"wec.test.local:{fc.port}"
        and dict(auth)["User-Agent"] == "Microsoft WinRM Client"
    )
    (req,) = st_.requests
    assert [k for k, _ in req.headers] == [
        "Connection",
        "Content-Type",
        "User-Agent",
        "Content-Length",
        "Host",
    ]
    assert dict(req.headers)["Content-Type"] == (
        'multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";'
        'boundary="Encrypted Boundary"'
    )
    header, ciphertext, length = decode_multipart(req.wire_body)
    assert (len(header), len(ciphertext), length) == (60, len(req.cleartext), len(req.cleartext))
    assert header[:8] == bytes.fromhex("050406ff0000001c")  # CFX wrap, sealed + acceptor subkey, RRC 28
    assert int(dict(req.headers)["Content-Length"]) == 234 + len(str(length)) + 4 + 60 + length


def test_a_forged_ap_rep_fails_authentication(kdc: Kdc) -> None:
    port, _, t, srv = _server(
        [b"HTTP/1.1 200 OK\r\nWWW-Authenticate: Kerberos AAAA\r\nContent-Length: 0\r\n\r\n"]
    )
    try:
        creds = acquire_credentials(PRINCIPAL, kdc.client_keytabs[PRINCIPAL])
        conn = WinRMConnection(
            f"http://wec.test.local:{port}/x",
            ClientSecurity(credentials=creds),
            connect_to=("127.0.0.1", port),
        )
        with pytest.raises(AuthError):
            conn.open()
        assert not conn.is_open
    finally:
        srv.close()
        t.join(5)


def test_a_401_or_a_missing_token_fails_authentication(kdc: Kdc) -> None:
    creds = acquire_credentials(PRINCIPAL, kdc.client_keytabs[PRINCIPAL])
    for reply in (
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Kerberos\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ):
        port, _, t, srv = _server([reply])
        try:
            conn = WinRMConnection(
                f"http://wec.test.local:{port}/x",
                ClientSecurity(credentials=creds),
                connect_to=("127.0.0.1", port),
            )
            with pytest.raises(AuthError):
                conn.open()
        finally:
            srv.close()
            t.join(5)


def test_unknown_principal_or_keytab_is_an_auth_error(kdc: Kdc, tmp_path: object) -> None:
    with pytest.raises(AuthError):
        acquire_credentials("NOBODY$@WEC.TEST", kdc.client_keytabs[PRINCIPAL])
