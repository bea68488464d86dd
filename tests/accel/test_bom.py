# SPDX-License-Identifier: GPL-3.0-or-later
"""accel.bom, and the SLDC label check built on it (accel.sldc.looks_uncompressed)."""

from __future__ import annotations

import pytest

from accel.bom import Bom, sniff_bom
from accel.sldc import SldcError, decompress, looks_uncompressed
from wec.sim.sldc import compress


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe<\x00", Bom("utf-16-le", 2)),
        (b"\xfe\xff\x00<", Bom("utf-16-be", 2)),
        (b"\xef\xbb\xbf<a/>", Bom("utf-8", 3)),
        (b"\xff\xfe\x00\x00", Bom("utf-16-le", 2)),  # UTF-32LE is not a WEF encoding
        (b"<\x00a\x00", None),
        (b"<a/>", None),
        (b"\xff", None),
        (b"\xef\xbb", None),
        (b"", None),
    ],
)
def test_sniff_bom(data: bytes, expected: Bom | None) -> None:
    assert sniff_bom(data) == expected


@pytest.mark.parametrize(
    "body",
    [
        "\ufeff<s:Envelope/>".encode("utf-16-le"),
        "\ufeff<s:Envelope/>".encode("utf-16-be"),
        "\ufeff<s:Envelope/>".encode(),
        "<s:Envelope/>".encode("utf-16-le"),
        b"<s:Envelope/>",
    ],
)
def test_plain_text_under_an_sldc_label_is_recognised_and_would_not_decode(body: bytes) -> None:
    assert looks_uncompressed(body)
    with pytest.raises(SldcError):
        decompress(body)


def test_a_compressed_body_is_not_taken_for_plain_text() -> None:
    body = compress("\ufeff<s:Envelope/>".encode("utf-16-le"))
    assert not looks_uncompressed(body)
    assert decompress(body) == "\ufeff<s:Envelope/>".encode("utf-16-le")


def test_an_empty_body_is_not_plain_text() -> None:
    assert not looks_uncompressed(b"")
