# SPDX-License-Identifier: GPL-3.0-or-later
"""An SLDC (ECMA-321) encoder, written independently of the decoder in ``accel``.

The Windows-source simulator compresses Heartbeat and Events bodies with it exactly as Windows
does (docs/protocol.md §6.3): ``Reset 1`` at bit 0, scheme-1 symbols, ``End of Record``, ZERO bits to
a 16-bit boundary and a 4-byte little-endian uncompressed-length trailer. The tests use its
other knobs (scheme 2, scheme switches, resets, flushes, file marks, End Marker, 32-bit framing)
to produce bodies the decoder has never seen.

Matching is greedy: at each position the longest match (2–271 bytes) in the history is taken,
preferring the most recent source on ties. The history is the last ``max_distance`` bytes
written since the last Reset; ``max_distance`` defaults to 1023, which never points a copy at the
write location itself (a reading some strict decoders reject), while 1024 uses the full buffer.

Bit layout (ECMA-321 §8.4–8.5, bits MSB first):

* Literal 1: ``0`` + 8 bits. Literal 2: 8 bits, and ``0xFF`` is followed by one ``0`` bit.
* Copy Pointer: ``1`` + Match Count Field + 10-bit absolute history location.
* Control: nine ``1`` bits + 4-bit code; Flush, File Mark and EOR are followed by ZERO bits,
  the End Marker by ONE bits, to the next 32-bit boundary.

Two engines produce the same bytes: ``numba`` (``wec.sim._sldc_kernel``, tens of MB/s, the
default when numba is installed) and ``python`` (this module, under 1 MB/s), which stays the
reference the tests hold the kernel to. The kernel compiles on first use; :func:`warm_up` does
it ahead of a timed run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Literal

import numpy as np

__all__ = [
    "END_MARKER",
    "EOR",
    "FILE_MARK",
    "FLUSH",
    "HISTORY_SIZE",
    "MAX_MATCH",
    "RESET_1",
    "RESET_2",
    "SCHEME_1",
    "SCHEME_2",
    "BitWriter",
    "compress",
    "warm_up",
]

HISTORY_SIZE = 1024
MAX_MATCH = 271

# 4-bit control codes (ECMA-321 §8.5, docs/protocol.md §6.2).
FLUSH, SCHEME_1, SCHEME_2, FILE_MARK, EOR, RESET_1, RESET_2, END_MARKER = 0, 1, 2, 3, 4, 5, 6, 15


class BitWriter:
    """Bits MSB first into bytes; also the building block for hand-assembled test bodies."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._nacc = 0
        self.nbits = 0

    def write(self, value: int, nbits: int) -> None:
        if value >> nbits:
            raise ValueError(f"{value:#x} does not fit in {nbits} bits")
        self._acc = (self._acc << nbits) | value
        self._nacc += nbits
        self.nbits += nbits
        if self._nacc >= 32:
            keep = self._nacc & 7
            self._out += (self._acc >> keep).to_bytes((self._nacc - keep) >> 3, "big")
            self._acc &= (1 << keep) - 1
            self._nacc = keep

    def pad(self, boundary: int, bit: int = 0) -> None:
        """Fill with ``bit`` up to the next multiple of ``boundary`` bits."""
        n = -self.nbits % boundary
        self.write(((1 << n) - 1) if bit else 0, n)

    def literal1(self, byte: int) -> None:
        self.write(byte, 9)

    def literal2(self, byte: int) -> None:
        if byte == 0xFF:
            self.write(0xFF << 1, 9)
        else:
            self.write(byte, 8)

    def copy(self, count: int, location: int) -> None:
        """A copy pointer of ``count`` bytes (2–271) from history ``location`` (0–1023)."""
        if not 2 <= count <= MAX_MATCH or not 0 <= location < HISTORY_SIZE:
            raise ValueError(f"copy of {count} bytes from {location} cannot be encoded")
        if count < 4:
            mcf, mlen = count - 2, 2  # 0x
        elif count < 8:
            mcf, mlen = 0b1000 | (count - 4), 4  # 10xx
        elif count < 16:
            mcf, mlen = 0b110000 | (count - 8), 6  # 110xxx
        elif count < 32:
            mcf, mlen = 0b11100000 | (count - 16), 8  # 1110xxxx
        else:
            mcf, mlen = (0b1111 << 8) | (count - 32), 12  # 1111 + 8 bits (<= 0xEF)
        self.write((((1 << mlen) | mcf) << 10) | location, 1 + mlen + 10)

    def control(self, code: int) -> None:
        self.write((0x1FF << 4) | code, 13)
        if code in (FLUSH, FILE_MARK, EOR):
            self.pad(32, 0)
        elif code == END_MARKER:
            self.pad(32, 1)

    def getvalue(self) -> bytes:
        """The bytes written so far; a partial last byte is completed with ZERO bits."""
        tail = b""
        if self._nacc:
            fill = -self._nacc % 8
            tail = (self._acc << fill).to_bytes((self._nacc + fill) >> 3, "big")
        return bytes(self._out) + tail


class _Matcher:
    """Greedy longest-match search over the bytes written since the last Reset."""

    def __init__(self, data: bytes, max_distance: int) -> None:
        self.data = data
        self.max_distance = max_distance
        self.base = 0
        self.chains3: dict[bytes, list[int]] = {}
        self.chains2: dict[bytes, list[int]] = {}

    def reset(self, at: int) -> None:
        self.base = at
        self.chains3.clear()
        self.chains2.clear()

    def add(self, pos: int) -> None:
        d = self.data
        self.chains2.setdefault(d[pos : pos + 2], []).append(pos)
        self.chains3.setdefault(d[pos : pos + 3], []).append(pos)

    def longest(self, pos: int, limit: int) -> tuple[int, int]:
        """``(length, source)`` of the longest match at ``pos`` not longer than ``limit``."""
        d = self.data
        lowest = max(self.base, pos - self.max_distance)
        best, best_src = 0, -1
        if limit >= 3:
            for src in reversed(self.chains3.get(d[pos : pos + 3], ())):
                if src < lowest:
                    break
                if best and d[src : src + best + 1] != d[pos : pos + best + 1]:
                    continue
                length = max(best, 3)
                while length < limit and d[src + length] == d[pos + length]:
                    length += 1
                if length > best:
                    best, best_src = length, src
                    if best == limit:
                        break
        if best == 0 and limit >= 2:
            chain = self.chains2.get(d[pos : pos + 2], ())
            if chain and chain[-1] >= lowest:
                best, best_src = 2, chain[-1]
        return best, best_src


def compress(
    data: bytes,
    *,
    scheme2: bool = False,
    windows_framing: bool = True,
    resets: Iterable[int] = (),
    flushes: Iterable[int] = (),
    file_marks: Iterable[int] = (),
    switches: Mapping[int, int] | None = None,
    end_marker: bool = False,
    trailer: bool | None = None,
    max_distance: int = HISTORY_SIZE - 1,
    engine: Literal["auto", "numba", "python"] = "auto",
) -> bytes:
    """Compress ``data`` into one SLDC record.

    * ``scheme2``: start (and reset) in scheme 2 (bytes as-is) instead of scheme 1.
    * ``windows_framing``: pad the EOR to 16 bits and append the length trailer (the default,
      as Windows does); ``False`` pads to 32 bits, as ECMA-321 says, with no trailer.
    * ``resets``, ``flushes``, ``file_marks``: input offsets before which a Reset (1 or 2, after
      the current scheme), a Flush or a File Mark is written.
    * ``switches``: ``{offset: 1 or 2}`` scheme changes (a Scheme 1/2 control symbol).
    * ``end_marker``: after the EOR, pad to 32 bits and write an End Marker with its ONEs.
    * ``trailer``: force the length trailer on or off whatever the framing.
    * ``max_distance``: how far back copies may reach, 1..1024.
    * ``engine``: ``"numba"``, ``"python"`` (the reference), or ``"auto"`` — numba when it can
      be imported. Both give the same bytes.
    """
    if not 1 <= max_distance <= HISTORY_SIZE:
        raise ValueError("max_distance must be within 1..1024")
    switches = dict(switches or {})
    if any(scheme not in (1, 2) for scheme in switches.values()):
        raise ValueError("a scheme is 1 or 2")
    resets, flushes, file_marks = list(resets), list(flushes), list(file_marks)
    use_trailer = trailer if trailer is not None else windows_framing
    kernel = _kernel(engine)
    if kernel is None:
        return _compress_python(
            data,
            scheme2,
            windows_framing,
            resets,
            flushes,
            file_marks,
            switches,
            end_marker,
            use_trailer,
            max_distance,
        )
    # Control symbols in the order the Python engine writes them at one offset: flushes, file
    # marks, resets, switches. Offsets outside 0..len are never reached there, so dropped here.
    n = len(data)
    k = kernel
    marks = [
        (off, kind) for offs, kind in ((flushes, k.EV_FLUSH), (file_marks, k.EV_FILE_MARK)) for off in offs
    ]
    marks += [(off, k.EV_RESET) for off in resets]
    marks += [(off, k.EV_SCHEME_2 if scheme == 2 else k.EV_SCHEME_1) for off, scheme in switches.items()]
    marks = sorted((m for m in marks if 0 <= m[0] <= n), key=lambda m: m[0])  # stable
    body: bytes = kernel.encode(
        np.frombuffer(bytes(data), dtype=np.uint8),
        np.array([m[0] for m in marks], dtype=np.int64),
        np.array([m[1] for m in marks], dtype=np.int64),
        scheme2,
        max_distance,
        windows_framing,
        end_marker,
    ).tobytes()
    return body + n.to_bytes(4, "little") if use_trailer else body


def warm_up() -> None:
    """Compile (or load from numba's cache) the numba kernel now rather than on first use; a
    no-op without numba. About 5 s the first time, well under 1 s from the cache."""
    kernel = _kernel("auto")
    if kernel is not None:
        compress(b"warm up warm up", engine="numba")


_kernel_module: ModuleType | None = None
_kernel_lock = threading.Lock()


def _kernel(engine: str) -> ModuleType | None:
    """The kernel module for ``engine``, or None for the Python engine. Imported on first use:
    importing numba costs a fraction of a second that sessions not compressing need not pay."""
    global _kernel_module
    if engine == "python":
        return None
    if engine not in ("auto", "numba"):
        raise ValueError(f"unknown engine {engine!r}")
    with _kernel_lock:
        if _kernel_module is None:
            try:
                from wec.sim import _sldc_kernel
            except ImportError:
                if engine == "numba":
                    raise
                return None
            _kernel_module = _sldc_kernel
    return _kernel_module


def _compress_python(
    data: bytes,
    scheme2: bool,
    windows_framing: bool,
    resets: list[int],
    flushes: list[int],
    file_marks: list[int],
    switches: dict[int, int],
    end_marker: bool,
    trailer: bool,
    max_distance: int,
) -> bytes:
    """The reference engine: readable, slow, and the definition of the output bytes."""
    events: dict[int, list[tuple[str, int]]] = {}
    for kind, offsets in (("flush", flushes), ("file_mark", file_marks), ("reset", resets)):
        for off in offsets:
            events.setdefault(off, []).append((kind, 0))
    for off, scheme in switches.items():
        events.setdefault(off, []).append(("switch", scheme))
    stops = sorted(off for off in events if 0 < off < len(data))

    w = BitWriter()
    scheme = 2 if scheme2 else 1
    w.control(RESET_2 if scheme == 2 else RESET_1)
    matcher = _Matcher(data, max_distance)
    pos, stop_index = 0, 0
    n = len(data)
    while pos < n or pos in events:
        for kind, arg in events.pop(pos, ()):
            if kind == "flush":
                w.control(FLUSH)
            elif kind == "file_mark":
                w.control(FILE_MARK)
            elif kind == "reset":
                w.control(RESET_2 if scheme == 2 else RESET_1)
                matcher.reset(pos)
            else:
                scheme = arg
                w.control(SCHEME_2 if arg == 2 else SCHEME_1)
        if pos >= n:
            break
        while stop_index < len(stops) and stops[stop_index] <= pos:
            stop_index += 1
        segment_end = stops[stop_index] if stop_index < len(stops) else n
        pos = _encode_segment(w, matcher, pos, segment_end, scheme)
    if windows_framing:
        _eor_windows(w)
    else:
        w.control(EOR)
    if end_marker:
        w.pad(32, 0)
        w.control(END_MARKER)
    if trailer:
        w.pad(8, 0)
        return w.getvalue() + len(data).to_bytes(4, "little")
    return w.getvalue()


def _eor_windows(w: BitWriter) -> None:
    # Windows pads the End of Record to a 16-bit boundary, not 32 (docs/protocol.md §6.3).
    w.write((0x1FF << 4) | EOR, 13)
    w.pad(16, 0)


def _encode_segment(w: BitWriter, matcher: _Matcher, pos: int, end: int, scheme: int) -> int:
    data = matcher.data
    while pos < end:
        if scheme == 2:
            w.literal2(data[pos])
            matcher.add(pos)
            pos += 1
            continue
        length, src = matcher.longest(pos, min(MAX_MATCH, end - pos))
        if length >= 2:
            w.copy(length, (src - matcher.base) % HISTORY_SIZE)
            for p in range(pos, pos + length):
                matcher.add(p)
            pos += length
        else:
            w.literal1(data[pos])
            matcher.add(pos)
            pos += 1
    return pos
