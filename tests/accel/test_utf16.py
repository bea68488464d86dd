# SPDX-License-Identifier: GPL-3.0-or-later
"""accel.utf16: BOM sniffing, the ASCII/Latin-1 fast path, the exact fallback, replacements."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.utf16 import Decoded, decode, encode
from tests.accel.events import envelope

ACCEL = settings.get_profile("accel")
BIG = 3000  # characters: above the size where the numpy fast path is used


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("\ufeffhé".encode("utf-16-le"), "utf-16-le"),
        ("\ufeffhé".encode("utf-16-be"), "utf-16-be"),
        ("\ufeffhé".encode(), "utf-8"),
        ("hé".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_every_bom_case(body: bytes, encoding: str) -> None:
    assert decode(body) == Decoded("hé", 0, encoding)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        "<Event>plain ASCII</Event>" * 200,
        "<Event>Zoë, François, Søren: ½ © ÿ</Event>" * 200,  # Latin-1, still one byte a unit
        "<Data>山田太郎 李小龙 김철수</Data>" * 200,
        "<Data>emoji 🔐🚀 and 𝄞 (astral, surrogate pairs)</Data>" * 200,
        "ASCII body with one € far away " * 200 + "€",  # the fast path must look at every unit
        "",
    ],
)
def test_bodies_decode_like_the_standard_codec(text: str, big_endian: bool) -> None:
    codec = "utf-16-be" if big_endian else "utf-16-le"
    result = decode("\ufeff".encode(codec) + text.encode(codec))
    assert result == Decoded(text, 0, codec)


def test_a_realistic_events_envelope() -> None:
    text = envelope(20)
    assert decode(encode(text)).text == text
    cjk = envelope(20, cjk=True)
    assert decode(encode(cjk)).text == cjk


@pytest.mark.parametrize("size", [10, BIG])
def test_lone_surrogates_are_replaced_and_counted(size: int) -> None:
    body = ("a" * size).encode("utf-16-le") + b"\x00\xd8" + b"b\x00" + b"\x00\xdc" + "c".encode("utf-16-le")
    result = decode(body)
    assert result.text == "a" * size + "\ufffdb\ufffdc"
    assert result.replacements == 2


@pytest.mark.parametrize("size", [10, BIG])
def test_odd_length_is_replaced_and_counted(size: int) -> None:
    result = decode(b"\xff\xfe" + ("x" * size).encode("utf-16-le") + b"y")
    assert result == Decoded("x" * size + "\ufffd", 1, "utf-16-le")


def test_invalid_utf8_after_a_utf8_bom_is_replaced_and_counted() -> None:
    result = decode(b"\xef\xbb\xbfok\xff\xfe!")
    assert result.text == "ok\ufffd\ufffd!"
    assert result.replacements == 2


def test_a_valid_surrogate_pair_is_not_a_replacement() -> None:
    assert decode("🚀".encode("utf-16-le")) == Decoded("🚀", 0, "utf-16-le")


def test_a_body_with_a_literal_replacement_character_reports_none() -> None:
    assert decode("\ufffd".encode("utf-16-le") * BIG).replacements == 0


def test_encode_writes_the_bom_then_utf16le() -> None:
    assert encode("<a/>é") == b"\xff\xfe<\x00a\x00/\x00>\x00\xe9\x00"
    assert encode("") == b"\xff\xfe"


@given(body=st.binary(max_size=64) | st.binary(min_size=2040, max_size=2100))
@settings(ACCEL)
def test_any_bytes_decode_like_errors_replace(body: bytes) -> None:
    result = decode(body)
    if body.startswith(b"\xef\xbb\xbf"):
        codec, rest = "utf-8", body[3:]
    elif body.startswith(b"\xfe\xff"):
        codec, rest = "utf-16-be", body[2:]
    else:
        codec, rest = "utf-16-le", body[2:] if body.startswith(b"\xff\xfe") else body
    assert result.encoding == codec
    assert result.text == rest.decode(codec, "replace")
    if codec == "utf-8":
        clean = rest.decode(codec, "replace") == rest.decode(codec, "surrogateescape")
        assert (result.replacements == 0) == clean
    else:
        # Counted independently: lone surrogate units pass through "surrogatepass" one by one.
        even = rest[: len(rest) - len(rest) % 2].decode(codec, "surrogatepass")
        lone = sum(0xD800 <= ord(ch) <= 0xDFFF for ch in even)
        assert result.replacements == lone + len(rest) % 2


@given(text=st.text(max_size=BIG + 100))
@settings(ACCEL)
def test_encode_then_decode_is_identity(text: str) -> None:
    try:
        body = encode(text)
    except UnicodeEncodeError:  # lone surrogates cannot be sent
        return
    assert decode(body) == Decoded(text, 0, "utf-16-le")


@given(text=st.text(alphabet=st.characters(max_codepoint=0xFF), min_size=BIG, max_size=BIG + 50))
@settings(ACCEL)
def test_latin1_bodies_take_the_fast_path_exactly(text: str) -> None:
    assert decode(encode(text)) == Decoded(text, 0, "utf-16-le")
    assert decode("\ufeff".encode("utf-16-be") + text.encode("utf-16-be")) == Decoded(text, 0, "utf-16-be")
