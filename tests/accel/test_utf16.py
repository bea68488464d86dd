# SPDX-License-Identifier: GPL-3.0-or-later
"""accel.utf16: BOM sniffing, the ASCII/Latin-1 fast path, the exact fallback, replacements."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.utf16 import FAST_PATH_MIN_BYTES, Decoded, decode, decode_parts, encode
from tests.accel.events import envelope

ACCEL = settings.get_profile("accel")
BIG = FAST_PATH_MIN_BYTES // 2 + 10  # characters: enough for the numpy fast path


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
        "<Event>plain ASCII</Event>" * 1000,
        "<Event>Zoë, François, Søren: ½ © ÿ</Event>" * 1000,  # Latin-1, still one byte a unit
        "<Data>山田太郎 李小龙 김철수</Data>" * 1000,
        "<Data>emoji 🔐🚀 and 𝄞 (astral, surrogate pairs)</Data>" * 1000,
        "ASCII body with one € far away " * 1000 + "€",  # the fast path must look at every unit
        "ĀĂ" * BIG,  # Latin Extended-A: 0x100 and up is not one byte a unit
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


@given(body=st.binary(max_size=64) | st.binary(min_size=8, max_size=64).map(lambda b: b * (BIG // 4)))
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
        odd = len(rest) % 2
        if odd and even and 0xD800 <= ord(even[-1]) <= 0xDBFF:
            odd = 0  # a high surrogate cut short by the odd byte is one error, as for "replace"
        assert result.replacements == lone + odd


@given(text=st.text(max_size=100), repeat=st.sampled_from([1, BIG]))
@settings(ACCEL)
def test_encode_then_decode_is_identity(text: str, repeat: int) -> None:
    text *= repeat
    try:
        body = encode(text)
    except UnicodeEncodeError:  # lone surrogates cannot be sent
        return
    assert decode(body) == Decoded(text, 0, "utf-16-le")


@given(text=st.text(alphabet=st.characters(max_codepoint=0xFF), min_size=1, max_size=50))
@settings(ACCEL)
def test_latin1_bodies_take_the_fast_path_exactly(text: str) -> None:
    text = (text * BIG)[:BIG]
    assert decode(encode(text)) == Decoded(text, 0, "utf-16-le")
    assert decode("\ufeff".encode("utf-16-be") + text.encode("utf-16-be")) == Decoded(text, 0, "utf-16-be")


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe" + "hé".encode("utf-16-le"),
        b"\xfe\xff" + ("x" * FAST_PATH_MIN_BYTES).encode("utf-16-be"),
        ("é" * FAST_PATH_MIN_BYTES).encode("utf-16-le"),
        ("漢" * FAST_PATH_MIN_BYTES).encode("utf-16-le"),
        "x".encode("utf-16-le") + b"\x00\xd8",  # a lone surrogate: replaced and counted
        b"\xef\xbb\xbfok",
    ],
)
def test_decode_parts_is_decode_without_the_wrapper(body: bytes) -> None:
    text, replacements, encoding = decode_parts(body)
    assert type(text) is str
    assert Decoded(text, replacements, encoding) == decode(body)
    assert (replacements, encoding) == (decode(body).replacements, decode(body).encoding)
