# SPDX-License-Identifier: GPL-3.0-or-later
"""Request decryption with OpenSSL (wec.auth.cfx) against real GSSAPI tokens: it reads what
MIT wraps, byte for byte, refuses what does not verify (GSSAPI then decides), and the session
behaves the same with or without it."""

from __future__ import annotations

import dataclasses

import pytest

from tests.auth.gss_client import Handshake, client_request, client_wrap
from wec.auth import KERBEROS_PROTOCOL, DecryptError, cfx, parse_encrypted


@pytest.mark.parametrize(
    ("data", "size", "expected"),
    [  # RFC 3961 appendix A.1
        (b"012345", 8, "be072631276b1955"),
        (b"password", 7, "78a07b6caf85fa"),
        (b"Rough Consensus, and Running Code", 8, "bb6ed30870b7f0e0"),
        (b"password", 21, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
        (b"kerberos", 16, "6b65726265726f737b9b5b2b93132b93"),
    ],
)
def test_nfold_matches_the_rfc_vectors(data: bytes, size: int, expected: str) -> None:
    assert cfx.nfold(data, size).hex() == expected


def test_the_aes_session_gets_fast_keys(krb: Handshake) -> None:
    assert krb.session._fast_keys is not None


@pytest.mark.parametrize("length", [1, 15, 16, 17, 31, 32, 33, 100, 4096, 65537])
def test_what_mit_wraps_is_read_back_exactly(krb: Handshake, length: int) -> None:
    # Every ciphertext-stealing tail (1..16 bytes) and whole-block case.
    keys = krb.session._fast_keys
    assert keys is not None
    plaintext = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    header, data = client_wrap(krb.client, plaintext)
    assert cfx.unwrap(keys, header + data) == plaintext


def test_any_flipped_byte_is_refused_by_both_paths(krb: Handshake) -> None:
    keys = krb.session._fast_keys
    assert keys is not None
    header, data = client_wrap(krb.client, b"batch" * 40)
    token = header + data
    for position in range(0, len(token), 7):
        tampered = bytearray(token)
        tampered[position] ^= 0x01
        assert cfx.unwrap(keys, bytes(tampered)) is None, position


def test_a_tampered_request_is_a_decrypt_error(krb: Handshake) -> None:
    content_type, body = client_request(krb.client, b"x" * 500, KERBEROS_PROTOCOL)
    parsed = parse_encrypted(content_type, body)
    parsed = dataclasses.replace(parsed, data=parsed.data[:-1] + bytes([parsed.data[-1] ^ 1]))
    with pytest.raises(DecryptError):
        krb.session.unwrap(parsed)


def test_a_signed_but_not_sealed_token_is_left_to_gssapi(krb: Handshake) -> None:
    keys = krb.session._fast_keys
    assert keys is not None
    header, data = client_wrap(krb.client, b"not secret", confidential=False)
    assert cfx.unwrap(keys, header + data) is None


def test_a_token_from_the_acceptor_direction_is_not_read(krb: Handshake) -> None:
    keys = krb.session._fast_keys
    assert keys is not None
    header, data = krb.session.wrap(b"response")
    assert cfx.unwrap(keys, header + data) is None


def test_without_fast_keys_gssapi_reads_the_same_requests(krb: Handshake) -> None:
    fast = krb.session._fast_keys
    for use_fast in (True, False, True):
        krb.session._fast_keys = fast if use_fast else None
        plaintext = f"request {use_fast}".encode() * 30
        content_type, body = client_request(krb.client, plaintext, KERBEROS_PROTOCOL)
        assert krb.session.unwrap(parse_encrypted(content_type, body)) == plaintext


def test_short_or_foreign_tokens_are_not_read(krb: Handshake) -> None:
    keys = krb.session._fast_keys
    assert keys is not None
    for token in (b"", b"\x05\x04\x06\xff" + bytes(40), bytes(100), b"\x04\x04\x06\xff" + bytes(100)):
        assert cfx.unwrap(keys, token) is None


@pytest.mark.parametrize("length", [1, 16, 17, 100, 4096])
def test_the_token_read_in_two_parts_gives_the_same_data_at_any_split(krb: Handshake, length: int) -> None:
    # The session hands the header part and the ciphertext apart (no join of ~100 KB); where
    # the token is cut must not matter, on the pieces path or the joined one.
    keys = krb.session._fast_keys
    assert keys is not None
    plaintext = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    header, data = client_wrap(krb.client, plaintext)
    token = header + data
    for split in sorted({0, 1, 15, 16, 17, 27, 28, 40, 44, 60, 61, len(token) - 1, len(token)}):
        if 0 <= split <= len(token):
            assert cfx.unwrap_parts(keys, token[:split], memoryview(token)[split:]) == plaintext, split


def _seal(keys: cfx.WrapKeys, data: bytes, rrc: int, ec: int = 0) -> bytes:
    """An initiator's sealed Wrap token (RFC 4121 §4.2.4, RFC 3962), written independently of
    wec.auth.cfx so that its reader is tested against the RFC, with any rotation count."""
    import hashlib
    import hmac
    import os
    import struct

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    header = b"\x05\x04\x02\xff" + struct.pack(">HH", ec, 0) + struct.pack(">Q", 9)
    plain = os.urandom(16) + data + b"\xff" * ec + header
    tail = len(plain) % 16 or 16
    padded = plain + bytes(16 - tail)
    enc = Cipher(algorithms.AES(keys.ke), modes.CBC(bytes(16))).encryptor()
    cbc = enc.update(padded) + enc.finalize()
    # Ciphertext stealing: the last whole block first, then the start of the one before.
    sealed = cbc[:-32] + cbc[-16:] + cbc[-32:-16][:tail] if len(plain) > 16 else cbc
    body = sealed + hmac.new(keys.ki, plain, hashlib.sha1).digest()[:12]
    rrc %= len(body)
    rotated = body[len(body) - rrc :] + body[: len(body) - rrc] if rrc else body
    return header[:6] + struct.pack(">H", rrc) + header[8:] + rotated


@pytest.mark.parametrize("rrc", [0, 5, 12, 28, 44, 200])
@pytest.mark.parametrize("length", [0, 1, 15, 16, 33, 1000])
def test_any_rotation_count_and_tail_reads_back(rrc: int, length: int) -> None:
    keys = cfx.WrapKeys(ke=bytes(range(32)), ki=bytes(range(32, 64)))
    data = bytes((7 * i) & 0xFF for i in range(length))
    token = _seal(keys, data, rrc, ec=length % 3)
    assert cfx.unwrap(keys, token) == data
    for split in (16, 16 + 28, 16 + 44, len(token) // 2):
        assert cfx.unwrap_parts(keys, token[:split], token[split:]) == data, split
    tampered = bytearray(token)
    tampered[-1] ^= 0x80
    assert cfx.unwrap(keys, bytes(tampered)) is None
