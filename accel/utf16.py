# SPDX-License-Identifier: GPL-3.0-or-later
"""UTF-16 decoding of WEF bodies, fast for the common ASCII/Latin-1 case.

Windows sends SOAP bodies as UTF-16LE with a BOM (docs/protocol.md §3.8). ``decode`` sniffs the BOM
(``FF FE`` little-endian, ``FE FF`` big-endian, ``EF BB BF`` UTF-8, none = little-endian) and
returns a :class:`Decoded`: the text, how many U+FFFD replacements were made (lone surrogates, a
trailing odd byte, invalid UTF-8), so that the caller can log a warning, and the encoding used.

Fast path (bodies of 24 KB and more): when every UTF-16 code unit is below 0x100 (ASCII and
Latin-1, nearly every event), numpy finds the largest unit and narrows the units to bytes (a
vectorised max and a vectorised cast; a look at the first 4096 units spares CJK bodies the full
pass) and CPython builds the ``str`` from those bytes with its ASCII or Latin-1 codec, both at
memcpy speed. numpy rather than numba here: numba's loops over a uint16 array did not vectorise
(6x slower than ``ndarray.max``).

Everything else (CJK, emoji, surrogate pairs, small bodies) goes to CPython's UTF-16 codec,
which is exact; only when that codec finds an error does a counting error handler replace and
count.
"""

from __future__ import annotations

import codecs
import threading

import numpy as np

from accel.bom import sniff_bom

__all__ = ["BOM_LE", "FAST_PATH_MIN_BYTES", "Decoded", "decode", "decode_parts", "encode"]

BOM_LE = codecs.BOM_UTF16_LE  # FF FE

# Below this many bytes the numpy calls (~8 us in all) cost more than CPython's codec saves:
# measured crossover ~20 KB. Heartbeats (3 KB) take the codec; Events envelopes the fast path.
FAST_PATH_MIN_BYTES = 24 * 1024
_PROBE_UNITS = 4096


class Decoded(str):
    """The decoded body (a ``str``, BOM removed) that also tells how it was decoded.

    It *is* the text, so ``decode(body)`` can be used wherever a string is expected, and it
    carries what the caller must report: ``replacements``, the number of U+FFFD substituted
    for undecodable input (lone surrogates, an odd trailing byte; 0 for a clean body), and
    ``encoding`` ("utf-16-le", "utf-16-be" or "utf-8", as sniffed from the BOM).
    """

    replacements: int
    encoding: str

    def __new__(cls, text: str, replacements: int = 0, encoding: str = "utf-16-le") -> Decoded:
        self = super().__new__(cls, text)
        self.replacements = replacements
        self.encoding = encoding
        return self

    @property
    def text(self) -> str:
        """The plain ``str`` (without the extra attributes)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Decoded({self.text!r}, replacements={self.replacements}, encoding={self.encoding!r})"


_counter = threading.local()


def _count_and_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _counter.n = getattr(_counter, "n", 0) + 1
    return "\ufffd", exc.end


_HANDLER = "accel-utf16-count-replace"
codecs.register_error(_HANDLER, _count_and_replace)


_DECODERS = {
    "utf-16-le": codecs.utf_16_le_decode,
    "utf-16-be": codecs.utf_16_be_decode,
    "utf-8": codecs.utf_8_decode,
}


def _replacing(view: memoryview, encoding: str) -> tuple[str, int]:
    """Decode a body the strict codec refused: U+FFFD where it failed, and how many."""
    _counter.n = 0
    # Same output as errors="replace" (one U+FFFD per lone surrogate unit, per trailing odd
    # byte, per maximal invalid UTF-8 subpart), and a count of them.
    text = _DECODERS[encoding](view, _HANDLER, True)[0]
    return text, int(_counter.n)


def _narrow(body: bytes, offset: int, big_endian: bool) -> str | None:
    """The text when every code unit is < 0x100, else None."""
    units = np.frombuffer(body, dtype=">u2" if big_endian else "<u2", offset=offset)
    # The first units first: a body with CJK or emoji in its first event is told apart for
    # ~2 us instead of a full pass (which still decides for every other body).
    if units[:_PROBE_UNITS].max(initial=0) > 0xFF:
        return None
    top = int(units.max(initial=0))
    if top > 0xFF:
        return None
    narrow = units.astype(np.uint8)
    return str(narrow.data, "ascii" if top < 0x80 else "latin-1")


def decode_parts(data: bytes) -> tuple[str, int, str]:
    """Like :func:`decode`, as a plain tuple ``(text, replacements, encoding)``: no copy of the
    text into a :class:`Decoded` (on a 400 KB body that copy, and ``.text``'s second one, cost
    as much as the decoding itself). The request path uses this one."""
    bom = sniff_bom(data)
    if bom is None:
        offset, encoding, strict = 0, "utf-16-le", "utf-16-le"
    else:
        # "utf-16" and "utf-8-sig" strip the BOM themselves.
        offset, encoding = bom.length, bom.encoding
        strict = "utf-8-sig" if encoding == "utf-8" else "utf-16"
    size = len(data) - offset
    if size >= FAST_PATH_MIN_BYTES and size % 2 == 0 and encoding != "utf-8":
        narrow = _narrow(data, offset, encoding == "utf-16-be")
        if narrow is not None:
            return narrow, 0, encoding
    try:
        return data.decode(strict), 0, encoding
    except UnicodeDecodeError:
        text, bad = _replacing(memoryview(data)[offset:], encoding)
        return text, bad, encoding


def decode(data: bytes) -> Decoded:
    """Decode a body per its BOM (none = UTF-16LE). Never raises for any ``bytes``."""
    return Decoded(*decode_parts(data))


def encode(text: str) -> bytes:
    """A response body: BOM ``FF FE`` then UTF-16LE (what Windows expects, docs/protocol.md §3.8).

    Lone surrogates in ``text`` (impossible from :func:`decode`) raise UnicodeEncodeError.
    """
    return BOM_LE + text.encode("utf-16-le")
