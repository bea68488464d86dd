# SPDX-License-Identifier: GPL-3.0-or-later
"""Hand assembly of SLDC bodies from bit strings, written from ECMA-321's tables (not from the
encoder), so that the tests state every bit they feed the decoder."""

from __future__ import annotations

__all__ = [
    "EOR",
    "RESET_1",
    "RESET_2",
    "assemble",
    "control",
    "copy",
    "lit1",
    "lit2",
    "mcf",
    "pad_to",
]

CONTROL_PREFIX = "111111111"  # nine 1s start every control symbol, in both schemes


def control(code: int) -> str:
    return CONTROL_PREFIX + format(code, "04b")


RESET_1 = control(0b0101)
RESET_2 = control(0b0110)
EOR = control(0b0100)


def lit1(byte: int) -> str:
    """Scheme 1 literal: 0 + the byte."""
    return "0" + format(byte, "08b")


def lit2(byte: int) -> str:
    """Scheme 2 literal: the byte, and 0xFF followed by a 0 bit."""
    return format(byte, "08b") + ("0" if byte == 0xFF else "")


def mcf(count: int) -> str:
    """Match Count Field, ECMA-321 table: 0x | 10xx | 110xxx | 1110xxxx | 1111xxxxxxxx."""
    if 2 <= count <= 3:
        return "0" + format(count - 2, "01b")
    if 4 <= count <= 7:
        return "10" + format(count - 4, "02b")
    if 8 <= count <= 15:
        return "110" + format(count - 8, "03b")
    if 16 <= count <= 31:
        return "1110" + format(count - 16, "04b")
    if 32 <= count <= 271:
        return "1111" + format(count - 32, "08b")
    raise ValueError(count)


def copy(count: int, location: int) -> str:
    return "1" + mcf(count) + format(location, "010b")


def pad_to(bits: str, boundary: int, fill: str = "0") -> str:
    """``bits`` extended with ``fill`` to a multiple of ``boundary`` bits."""
    return bits + fill * (-len(bits) % boundary)


def assemble(*fields: str, trailer: int | None = None, pad: int = 32) -> bytes:
    """Concatenate bit fields (spaces ignored), ZERO-pad to ``pad`` bits, add a LE trailer."""
    bits = pad_to("".join(fields).replace(" ", ""), pad)
    body = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    if trailer is not None:
        body += trailer.to_bytes(4, "little")
    return body
