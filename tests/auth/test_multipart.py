# SPDX-License-Identifier: GPL-3.0-or-later
"""The multipart/encrypted framing (docs/protocol.md §4.2), without any Kerberos."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.vectors import vector_path
from wec.auth import (
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    DecryptError,
    build_encrypted,
    parse_encrypted,
)

KRB_CT = f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary="Encrypted Boundary"'
SPNEGO_CT = f'multipart/encrypted;protocol="{SPNEGO_PROTOCOL}";boundary="Encrypted Boundary"'
HEADER = bytes(range(60))
# Ciphertext that contains the boundary, CRLFs and a fake closing delimiter: the parser must
# never look for the end by searching forward through it.
DATA = b"\x00--Encrypted Boundary\r\n\r\nContent-Type: x\r\n--Encrypted Boundary--\r\n\xff" * 3


def windows_body(
    label: str = KERBEROS_PROTOCOL, header: bytes = HEADER, data: bytes = DATA, length: int = 3240
) -> bytes:
    """Windows' form, written out by hand: no tab, no blank line, no CRLF before the end."""
    return (
        b"--Encrypted Boundary\r\n"
        b"Content-Type: " + label.encode() + b"\r\n"
        b"OriginalContent: type=application/soap+xml;charset=UTF-16;Length=" + str(length).encode() + b"\r\n"
        b"--Encrypted Boundary\r\n"
        b"Content-Type: application/octet-stream\r\n"
        + struct.pack("<I", len(header))
        + header
        + data
        + b"--Encrypted Boundary--\r\n"
    )


def raw_body(payload: bytes) -> bytes:
    """Windows' text part around an arbitrary encrypted-part payload (H field included)."""
    return windows_body(header=b"X", data=b"")[: -(4 + 1 + 24)] + payload + b"--Encrypted Boundary--\r\n"


def pywinrm_body(header: bytes = HEADER, data: bytes = DATA) -> bytes:
    """pywinrm's form (MS-WSMV §2.2.9.1.2.2.1): tab-indented part headers, UTF-8."""
    return (
        b"--Encrypted Boundary\r\n"
        b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(data)).encode()
        + b"\r\n"
        b"--Encrypted Boundary\r\n"
        b"\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<i", len(header))
        + header
        + data
        + b"--Encrypted Boundary--\r\n"
    )


def test_windows_form_parses_into_header_and_ciphertext() -> None:
    body = parse_encrypted(KRB_CT, windows_body())
    assert body.protocol == KERBEROS_PROTOCOL
    assert body.original_type == "application/soap+xml;charset=UTF-16"
    assert body.original_length == 3240
    assert body.header == HEADER
    assert body.data == DATA


def test_pywinrm_form_with_tabs_parses() -> None:
    body = parse_encrypted(SPNEGO_CT, pywinrm_body())
    assert body.protocol == SPNEGO_PROTOCOL
    assert body.original_type == "application/soap+xml;charset=UTF-8"
    assert body.original_length == len(DATA)
    assert (body.header, body.data) == (HEADER, DATA)


def test_build_writes_windows_form_byte_for_byte() -> None:
    content_type, body = build_encrypted(KERBEROS_PROTOCOL, HEADER, DATA, original_length=3240)
    assert content_type == KRB_CT
    assert body == windows_body()


@pytest.mark.parametrize("length", [0, 7, 1006, 3240, 8672, 123456789])
def test_content_length_formula_holds_for_the_kerberos_label(length: int) -> None:
    # docs/protocol.md §4.2: Content-Length = 234 + len(str(L)) + 4 + H + L, with H = 60 for AES256.
    _, body = build_encrypted(KERBEROS_PROTOCOL, HEADER, b"\x42" * (length % 10_000), original_length=length)
    assert len(body) == 234 + len(str(length)) + 4 + 60 + length % 10_000


def test_lengths_match_the_captured_windows_conversation() -> None:
    capture = json.loads(vector_path("wef", "openwec-capture-http.json").read_text())
    checked = 0
    for message in capture["messages"]:
        part = message.get("encrypted_part")
        if not part:
            continue
        headers = dict(message["headers"])
        length = int(part["original_content"].rsplit("Length=", 1)[1])
        content_type, body = build_encrypted(
            KERBEROS_PROTOCOL, b"\0" * part["security_token_length"], b"\0" * length, original_length=length
        )
        assert content_type == headers["Content-Type"]
        assert len(body) == int(headers["Content-Length"])
        assert parse_encrypted(content_type, body).original_length == length
        checked += 1
    assert checked >= 4


def test_build_then_parse_round_trips_with_both_labels() -> None:
    for label in (KERBEROS_PROTOCOL, SPNEGO_PROTOCOL):
        content_type, body = build_encrypted(
            label, b"h" * 44, b"", original_length=0, original_type="text/x;a=b"
        )
        parsed = parse_encrypted(content_type, body)
        assert (parsed.protocol, parsed.header, parsed.data) == (label, b"h" * 44, b"")
        assert (parsed.original_type, parsed.original_length) == ("text/x;a=b", 0)


def test_build_refuses_an_unknown_label() -> None:
    with pytest.raises(ValueError):
        build_encrypted("application/HTTP-CredSSP-session-encrypted", HEADER, DATA, 1)


@pytest.mark.parametrize(
    "content_type",
    [
        f"multipart/encrypted; protocol={KERBEROS_PROTOCOL}; boundary=Encrypted Boundary",
        f'Multipart/Encrypted;Boundary="Encrypted Boundary";PROTOCOL="{KERBEROS_PROTOCOL.upper()}"',
        f'multipart/encrypted ; protocol = "{KERBEROS_PROTOCOL}" ; boundary = "Encrypted Boundary" ',
    ],
)
def test_content_type_parameters_may_be_unquoted_reordered_or_spaced(content_type: str) -> None:
    assert parse_encrypted(content_type, windows_body()).protocol == KERBEROS_PROTOCOL


def test_boundary_comes_from_the_header() -> None:
    body = windows_body().replace(b"Encrypted Boundary", b"other=b;oundary")
    parsed = parse_encrypted(
        f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary="other=b;oundary"', body
    )
    assert parsed.header == HEADER


def test_missing_original_length_is_none() -> None:
    body = windows_body().replace(b";Length=3240", b"")
    assert parse_encrypted(KRB_CT, body).original_length is None


def test_trailing_transport_padding_after_the_closing_delimiter_is_ignored() -> None:
    assert parse_encrypted(KRB_CT, windows_body() + b"\r\n  \r\n").data == DATA
    assert parse_encrypted(KRB_CT, windows_body()[:-2]).data == DATA
    # Past the short look at the body's end (64 bytes), the same answer.
    for padding in (b" " * 63, b" " * 64, b"\r\n" * 40 + b"\t" * 50):
        assert parse_encrypted(KRB_CT, windows_body() + padding).data == DATA
    with pytest.raises(DecryptError):
        parse_encrypted(KRB_CT, b" \r\n" * 100)


MALFORMED = {
    "not multipart": ("application/soap+xml;charset=UTF-16", windows_body()),
    "no boundary": (f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}"', windows_body()),
    "no protocol": ('multipart/encrypted;boundary="Encrypted Boundary"', windows_body()),
    "credssp": (
        'multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted";boundary=x',
        windows_body(),
    ),
    "unterminated quote": (
        f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary="Encrypted',
        windows_body(),
    ),
    "empty boundary": (f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary=""', windows_body()),
    "boundary too long": (
        f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary={"b" * 71}',
        windows_body(),
    ),
    "duplicate parameter": (KRB_CT + ';boundary="x"', windows_body()),
    "wrong boundary": (KRB_CT.replace("Encrypted Boundary", "Other"), windows_body()),
    "label mismatch": (SPNEGO_CT, windows_body(KERBEROS_PROTOCOL)),
    "empty body": (KRB_CT, b""),
    "only a delimiter": (KRB_CT, b"--Encrypted Boundary\r\n"),
    "truncated in the text part": (KRB_CT, windows_body()[:60]),
    "truncated in the ciphertext": (KRB_CT, windows_body()[:-40]),
    "no closing delimiter": (KRB_CT, windows_body()[: -len(b"--Encrypted Boundary--\r\n")]),
    "no OriginalContent": (KRB_CT, windows_body().replace(b"OriginalContent", b"X-Other")),
    "OriginalContent without type": (KRB_CT, windows_body().replace(b"type=", b"typo=")),
    "non-numeric length": (KRB_CT, windows_body().replace(b"Length=3240", b"Length=32x0")),
    "negative length": (KRB_CT, windows_body().replace(b"Length=3240", b"Length=-3240")),
    "huge length": (KRB_CT, windows_body().replace(b"Length=3240", b"Length=" + b"9" * 40)),
    "two lengths": (KRB_CT, windows_body().replace(b"Length=3240", b"Length=3240;Length=1")),
    "no part type": (
        KRB_CT,
        windows_body().replace(b"Content-Type: application/HTTP", b"X: application/HTTP"),
    ),
    "second part not octet-stream": (KRB_CT, windows_body().replace(b"octet-stream", b"soap+xml")),
    "H larger than the body": (KRB_CT, raw_body(struct.pack("<I", 1000) + b"x" * 10)),
    "H is zero": (KRB_CT, raw_body(struct.pack("<I", 0) + b"x")),
    "payload shorter than the H field": (KRB_CT, raw_body(b"\x01\x00")),
    "non-ASCII header": (KRB_CT, windows_body().replace(b"OriginalContent", b"Original\xe9ontent")),
    "header without colon": (KRB_CT, windows_body().replace(b"OriginalContent:", b"OriginalContent")),
    "duplicate part header": (KRB_CT, windows_body().replace(b"OriginalContent", b"Content-Type")),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies_raise_decrypt_error(case: str) -> None:
    content_type, body = MALFORMED[case]
    with pytest.raises(DecryptError):
        parse_encrypted(content_type, body)


def test_h_exactly_filling_the_payload_leaves_empty_ciphertext() -> None:
    parsed = parse_encrypted(KRB_CT, windows_body(data=b""))
    assert (parsed.header, parsed.data) == (HEADER, b"")


def test_h_one_byte_too_large_is_refused() -> None:
    body = windows_body(data=b"").replace(b"stream\r\n<\x00\x00\x00", b"stream\r\n=\x00\x00\x00")
    with pytest.raises(DecryptError, match="does not fit"):
        parse_encrypted(KRB_CT, body)


# -- fuzzing: only DecryptError may escape ---------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([KRB_CT, SPNEGO_CT]))
def test_random_bodies_parse_or_raise_decrypt_error(body: bytes, content_type: str) -> None:
    with contextlib.suppress(DecryptError):
        parse_encrypted(content_type, body)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400),
            st.integers(min_value=0, max_value=8),
            st.binary(max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_windows_bodies_parse_or_raise_decrypt_error(edits: list[tuple[int, int, bytes]]) -> None:
    body = windows_body(data=b"cipher", length=6)
    for pos, cut, insert in edits:
        pos = min(pos, len(body))
        body = body[:pos] + insert + body[pos + cut :]
    try:
        parsed = parse_encrypted(KRB_CT, body)
    except DecryptError:
        return
    # Whatever parsed must be self-consistent: H bounded by what followed it.
    assert 0 < len(parsed.header) <= len(body)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_content_types_parse_or_raise_decrypt_error(content_type: str) -> None:
    with contextlib.suppress(DecryptError):
        parse_encrypted(content_type, windows_body())
