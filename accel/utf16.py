# SPDX-License-Identifier: GPL-3.0-or-later
"""UTF-16 decoding of WEF bodies, fast for the common ASCII/Latin-1 case.

Windows sends SOAP bodies as UTF-16LE with a BOM (PROTOCOL.md §6). ``decode`` sniffs the BOM
(``FF FE`` little-endian, ``FE FF`` big-endian, ``EF BB BF`` UTF-8, none = little-endian) and
returns a :class:`Decoded`: the text, how many U+FFFD replacements were made (lone surrogates, a
trailing odd byte, invalid UTF-8), so that the caller can log a warning, and the encoding used.

Fast path: when every UTF-16 code unit is below 0x100 (ASCII and Latin-1, nearly every event),
numpy narrows the units to bytes (one vectorised max, one vectorised cast) and CPython builds
the ``str`` from those bytes with its ASCII or Latin-1 codec, both memcpy-speed. Everything
else (CJK, emoji, surrogate pairs) goes to CPython's UTF-16 codec, which is exact; only when
that codec finds an error does a counting error handler replace and count.
"""

from __future__ import annotations

import codecs
import threading
from typing import NamedTuple

import numpy as np

__all__ = ["BOM_LE", "Decoded", "decode", "encode"]

BOM_LE = codecs.BOM_UTF16_LE  # FF FE
_BOM_BE = codecs.BOM_UTF16_BE  # FE FF
_BOM_UTF8 = codecs.BOM_UTF8  # EF BB BF

# Below this many bytes the numpy calls (~8 us in all) cost more than CPython's codec saves:
# measured crossover ~20 KB. Heartbeats (3 KB) take the codec; Events envelopes the fast path.
FAST_PATH_MIN_BYTES = 24 * 1024


class Decoded(NamedTuple):
    text: str  # the decoded body, BOM removed
    replacements: int  # U+FFFD substituted for undecodable input (0 for a clean body)
    encoding: str  # "utf-16-le", "utf-16-be" or "utf-8", as sniffed from the BOM


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


def _slow(view: memoryview, encoding: str) -> tuple[str, int]:
    decoder = _DECODERS[encoding]
    try:
        return decoder(view, "strict", True)[0], 0
    except UnicodeDecodeError:
        pass
    _counter.n = 0
    # Same output as errors="replace" (one U+FFFD per lone surrogate unit, per trailing odd
    # byte, per maximal invalid UTF-8 subpart), and a count of them.
    text = decoder(view, _HANDLER, True)[0]
    return text, int(_counter.n)


def _narrow(body: bytes, offset: int, big_endian: bool) -> str | None:
    """The text when every code unit is < 0x100, else None."""
    units = np.frombuffer(body, dtype=">u2" if big_endian else "<u2", offset=offset)
    top = int(units.max(initial=0))
    if top > 0xFF:
        return None
    narrow = units.astype(np.uint8)
    return str(narrow.data, "ascii" if top < 0x80 else "latin-1")


def decode(data: bytes) -> Decoded:
    """Decode a body per its BOM (none = UTF-16LE). Never raises for any ``bytes``."""
    view = memoryview(data)
    if data.startswith(_BOM_UTF8):
        text, bad = _slow(view[3:], "utf-8")
        return Decoded(text, bad, "utf-8")
    big_endian = data.startswith(_BOM_BE)
    offset = 2 if big_endian or data.startswith(BOM_LE) else 0
    encoding = "utf-16-be" if big_endian else "utf-16-le"
    size = len(data) - offset
    if size >= FAST_PATH_MIN_BYTES and size % 2 == 0:
        narrow = _narrow(data, offset, big_endian)
        if narrow is not None:
            return Decoded(narrow, 0, encoding)
    text, bad = _slow(view[offset:], encoding)
    return Decoded(text, bad, encoding)


def encode(text: str) -> bytes:
    """A response body: BOM ``FF FE`` then UTF-16LE (what Windows expects, PROTOCOL.md §6).

    Lone surrogates in ``text`` (impossible from :func:`decode`) raise UnicodeEncodeError.
    """
    return BOM_LE + text.encode("utf-16-le")
