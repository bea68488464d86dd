# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-connection session encryption: unwrap requests, wrap responses (docs/protocol.md §4.3)."""

from __future__ import annotations

import contextlib
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.auth.gss_client import (
    Handshake,
    client_read_response,
    client_request,
    client_unwrap,
    client_wrap,
    handshake,
)
from tests.support.kdc import Kdc
from wec.auth import (
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    DecryptError,
    EncryptedBody,
    KerberosAcceptor,
    Session,
    build_encrypted,
    parse_encrypted,
)

ENUMERATE = "\ufeff<s:Envelope>Enumerate … é</s:Envelope>".encode("utf-16-le")
ACK = "\ufeff<s:Envelope>Ack</s:Envelope>".encode("utf-16-le")


def request(hs: Handshake, plaintext: bytes = ENUMERATE, protocol: str = KERBEROS_PROTOCOL) -> EncryptedBody:
    return parse_encrypted(*client_request(hs.client, plaintext, protocol))


def test_request_from_the_source_unwraps_to_the_cleartext(krb: Handshake) -> None:
    assert krb.session.unwrap(request(krb)) == ENUMERATE


def test_response_decrypts_at_the_source(krb: Handshake) -> None:
    content_type, body = krb.session.encrypt_response(ACK)
    assert content_type == f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary="Encrypted Boundary"'
    assert client_read_response(krb.client, content_type, body) == ACK


def test_a_keep_alive_conversation_alternates_requests_and_responses(krb: Handshake) -> None:
    for i in range(5):
        batch = f"batch {i}".encode("utf-16-le") * (i * 50 + 1)
        assert krb.session.unwrap(request(krb, batch)) == batch
        ct, body = krb.session.encrypt_response(ACK + bytes([i]))
        assert client_read_response(krb.client, ct, body) == ACK + bytes([i])


def test_negotiate_session_answers_with_the_spnego_label(kdc: Kdc, acceptor: KerberosAcceptor) -> None:
    hs = handshake(kdc, acceptor, scheme="Negotiate")
    assert hs.session.unwrap(request(hs, protocol=SPNEGO_PROTOCOL)) == ENUMERATE
    content_type, body = hs.session.encrypt_response(ACK)
    assert f'protocol="{SPNEGO_PROTOCOL}"' in content_type
    assert client_read_response(hs.client, content_type, body) == ACK


@pytest.mark.parametrize("label", [KERBEROS_PROTOCOL, SPNEGO_PROTOCOL])
def test_either_label_is_accepted_on_input(krb: Handshake, label: str) -> None:
    assert krb.session.unwrap(request(krb, protocol=label)) == ENUMERATE


def test_inbound_token_header_has_the_windows_layout(krb: Handshake) -> None:
    # AES256-SHA1 CFX wrap token: 05 04, flags 06 (Sealed + AcceptorSubkey), FF, EC 0, RRC 28.
    body = request(krb)
    assert len(body.header) == 60
    assert body.header[:8] == bytes.fromhex("050406ff0000001c")
    assert len(body.data) == len(ENUMERATE)  # no padding with AES


def test_response_token_header_is_sent_by_the_acceptor(krb: Handshake) -> None:
    header, data = krb.session.wrap(ACK)
    assert header[:8] == bytes.fromhex("050407ff0000001c")  # flags 07: + SentByAcceptor
    assert len(header) == 60 and len(data) == len(ACK)


def test_response_content_length_follows_the_windows_formula(krb: Handshake) -> None:
    plaintext = b"\x00" * 8672
    _, body = krb.session.encrypt_response(plaintext)
    assert len(body) == 234 + len(str(len(plaintext))) + 4 + 60 + len(plaintext)


def test_empty_plaintext_round_trips(krb: Handshake) -> None:
    assert krb.session.unwrap(request(krb, b"")) == b""


# -- refusals: DecryptError (400) ---------------------------------------------------------


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_tampered_ciphertext_is_refused(krb: Handshake) -> None:
    body = request(krb)
    with pytest.raises(DecryptError):
        krb.session.unwrap(EncryptedBody(**{**body.__dict__, "data": flip(body.data, 10)}))


@pytest.mark.parametrize("index", [2, 4, 6, 15, 16, 40, 59])
def test_tampered_token_header_is_refused(krb: Handshake, index: int) -> None:
    body = request(krb)
    with pytest.raises(DecryptError):
        krb.session.unwrap(EncryptedBody(**{**body.__dict__, "header": flip(body.header, index)}))


def test_truncated_header_or_ciphertext_is_refused(krb: Handshake) -> None:
    body = request(krb)
    for header, data in (
        (body.header[:-1], body.data),
        (body.header, body.data[:-1]),
        (body.header[:16], b""),
    ):
        with pytest.raises(DecryptError):
            krb.session.unwrap(EncryptedBody(**{**body.__dict__, "header": header, "data": data}))


def test_a_replayed_body_is_refused(krb: Handshake) -> None:
    # Our initiator, like a minimal client, does not ask for replay detection, so MIT alone
    # would decrypt the same token twice; the session tracks sequence numbers itself.
    body = request(krb)
    assert krb.session.unwrap(body) == ENUMERATE
    with pytest.raises(DecryptError, match="replayed"):
        krb.session.unwrap(body)


def test_an_older_body_after_a_newer_one_is_refused(krb: Handshake) -> None:
    first, second = request(krb, b"one"), request(krb, b"two")
    assert krb.session.unwrap(second) == b"two"
    with pytest.raises(DecryptError):
        krb.session.unwrap(first)


def test_a_refused_body_does_not_disturb_the_next_one(krb: Handshake) -> None:
    body = request(krb)
    with pytest.raises(DecryptError):
        krb.session.unwrap(EncryptedBody(**{**body.__dict__, "data": flip(body.data, 0)}))
    assert krb.session.unwrap(body) == ENUMERATE


def test_a_reflected_response_is_refused(krb: Handshake) -> None:
    header, data = krb.session.wrap(ENUMERATE)
    with pytest.raises(DecryptError, match="acceptor"):
        krb.session.unwrap(EncryptedBody(KERBEROS_PROTOCOL, "t", len(ENUMERATE), header, data))


def test_body_encrypted_under_another_sessions_key_is_refused(kdc: Kdc, acceptor: KerberosAcceptor) -> None:
    one, two = handshake(kdc, acceptor), handshake(kdc, acceptor)
    with pytest.raises(DecryptError):
        two.session.unwrap(request(one))


def test_signed_but_not_sealed_body_is_refused(krb: Handshake) -> None:
    header, data = client_wrap(krb.client, ENUMERATE, confidential=False)
    with pytest.raises(DecryptError, match="not encrypted"):
        krb.session.unwrap(EncryptedBody(KERBEROS_PROTOCOL, "t", len(ENUMERATE), header, data))


def test_length_mismatch_with_original_content_is_refused(krb: Handshake) -> None:
    header, data = client_wrap(krb.client, ENUMERATE)
    ct, raw = build_encrypted(KERBEROS_PROTOCOL, header, data, original_length=len(ENUMERATE) + 1)
    with pytest.raises(DecryptError, match="Length"):
        krb.session.unwrap(parse_encrypted(ct, raw))


def test_missing_original_length_is_not_checked(krb: Handshake) -> None:
    header, data = client_wrap(krb.client, ENUMERATE)
    assert krb.session.unwrap(EncryptedBody(KERBEROS_PROTOCOL, "t", None, header, data)) == ENUMERATE


def test_decrypt_error_keeps_the_gssapi_cause(krb: Handshake) -> None:
    body = request(krb)
    with pytest.raises(DecryptError) as info:
        krb.session.unwrap(EncryptedBody(**{**body.__dict__, "data": flip(body.data, 0)}))
    assert info.value.__cause__ is not None


def test_concurrent_wraps_are_serialised_and_all_decrypt_in_order(krb: Handshake) -> None:
    results: list[tuple[bytes, bytes]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            with lock:  # keep the wire order = the order the client will read them
                results.append(krb.session.wrap(f"{n}-{i}".encode()))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 40
    assert len({client_unwrap(krb.client, h, d) for h, d in results}) == 40


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.binary(max_size=80), data=st.binary(max_size=80), length=st.none() | st.integers(0, 100))
def test_arbitrary_bodies_only_ever_raise_decrypt_error(
    krb: Handshake, header: bytes, data: bytes, length: int | None
) -> None:
    with contextlib.suppress(DecryptError):
        krb.session.unwrap(EncryptedBody(KERBEROS_PROTOCOL, "t", length, header, data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(0, 59), bit=st.integers(0, 7))
def test_any_single_bit_flip_in_the_header_is_refused(krb: Handshake, index: int, bit: int) -> None:
    body = request(krb)
    header = bytearray(body.header)
    header[index] ^= 1 << bit
    with pytest.raises(DecryptError):
        krb.session.unwrap(EncryptedBody(**{**body.__dict__, "header": bytes(header)}))


# --- the Session seam the transport uses (wec.auth.session) -----------------------------------


def test_decrypt_request_takes_the_http_content_type_and_body(krb: Handshake) -> None:
    assert krb.session.decrypt_request(*client_request(krb.client, ENUMERATE, KERBEROS_PROTOCOL)) == ENUMERATE


@pytest.mark.parametrize("content_type", ["application/soap+xml;charset=UTF-16", ""])
def test_decrypt_request_refuses_a_plaintext_body(krb: Handshake, content_type: str) -> None:
    with pytest.raises(DecryptError, match="plaintext body on a Kerberos collector"):
        krb.session.decrypt_request(content_type, ENUMERATE)


def test_decrypt_request_refuses_bad_framing(krb: Handshake) -> None:
    content_type, body = client_request(krb.client, ENUMERATE, KERBEROS_PROTOCOL)
    with pytest.raises(DecryptError, match="multipart"):
        krb.session.decrypt_request(content_type, body[:-10])


def test_a_closed_session_refuses_requests_but_still_answers(krb: Handshake) -> None:
    content_type, body = client_request(krb.client, ENUMERATE, KERBEROS_PROTOCOL)
    krb.session.close()
    with pytest.raises(DecryptError, match="closed"):
        krb.session.decrypt_request(content_type, body)
    reply_type, reply = krb.session.encrypt_response(ACK)
    assert client_read_response(krb.client, reply_type, reply) == ACK


def test_the_kerberos_session_is_a_session(krb: Handshake) -> None:
    session: Session = krb.session  # checked by mypy; the principal is the ticket's client
    assert session.principal.startswith("WIN10$@")
