# SPDX-License-Identifier: GPL-3.0-or-later
"""Reference SLDC decoder in plain Python: the oracle the fast decoder is tested against.

Written for obviousness, not speed, and deliberately unlike ``accel``'s kernel: bits are read
one at a time, symbols are parsed the way ECMA-321 §8.4 reads them (a copy pointer's Match Count
Field first, and only a ``1111`` + ``1111xxxx`` field turns out to be a control symbol), and the
history is a real 1024-byte ring with a count of bytes written since the last Reset.

Semantics (the contract ``accel.sldc`` must match, reason for reason):

* A symbol is read whole before it is judged; running out of bits inside it is ``truncated``;
  running out exactly between symbols is ``missing_eor``.
* Before the first Reset only control symbols are allowed (``before_reset``); Scheme 1/2 there
  change nothing.
* A copy may read a history location only if it was written since the last Reset
  (``unwritten``); a full history makes every location readable, including the write location.
* Flush and File Mark pads must be ZERO, the End Marker pad ONE (``bad_pad``); all run to the
  next 32-bit boundary from bit 0 of the body.
* Output over ``max_output`` after any symbol is ``too_large``.
* After the first End of Record: ZERO bits to the 16-bit boundary; then nothing, or a 4-byte
  trailer; or ZERO bits on to the 32-bit boundary, an optional ``FF FF FF FF`` (End Marker and
  ONEs), then nothing or a 4-byte trailer. A trailer must equal the output length.
"""

from __future__ import annotations

__all__ = ["ReferenceSldcError", "decompress"]


class ReferenceSldcError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.total = 8 * len(data)

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            if self.pos >= self.total:
                raise ReferenceSldcError("truncated")
            byte = self.data[self.pos // 8]
            value = (value << 1) | ((byte >> (7 - self.pos % 8)) & 1)
            self.pos += 1
        return value


class _History:
    def __init__(self) -> None:
        self.ring = bytearray(1024)
        self.write_at = 0
        self.written = 0  # since the last Reset, saturating at 1024
        self.defined = False

    def reset(self) -> None:
        self.write_at = 0
        self.written = 0
        self.defined = True

    def put(self, byte: int, out: bytearray) -> None:
        self.ring[self.write_at] = byte
        self.write_at = (self.write_at + 1) % 1024
        self.written = min(self.written + 1, 1024)
        out.append(byte)

    def readable(self, location: int) -> bool:
        if self.written == 1024:
            return True
        return location < self.write_at


def decompress(data: bytes, max_output: int) -> bytes:
    bits = _Bits(data)
    hist = _History()
    out = bytearray()
    scheme = 1
    while True:
        if bits.pos == bits.total:
            raise ReferenceSldcError("missing_eor")
        code = _next_symbol(bits, hist, out, scheme)
        if code is not None:
            if code == 4:
                break
            scheme = _apply_control(bits, hist, code, scheme)
        if len(out) > max_output:
            raise ReferenceSldcError("too_large")
    _framing(data, bits.pos, len(out))
    return bytes(out)


def _next_symbol(bits: _Bits, hist: _History, out: bytearray, scheme: int) -> int | None:
    """Decode one symbol; returns the control code, or None for a data symbol."""
    if not hist.defined:
        prefix = bits.read(9)
        if prefix != 0x1FF:
            raise ReferenceSldcError("before_reset")
        return bits.read(4)
    if scheme == 2:
        byte = bits.read(8)
        if byte != 0xFF:
            hist.put(byte, out)
            return None
        if bits.read(1) == 0:
            hist.put(0xFF, out)
            return None
        return bits.read(4)
    if bits.read(1) == 0:
        hist.put(bits.read(8), out)
        return None
    count, field = _match_count(bits)
    if count is None:  # 1 + 1111 + 1111cccc: the nine 1s of a control symbol
        return field & 0xF
    location = bits.read(10)
    if not hist.readable(location):
        raise ReferenceSldcError("unwritten")
    for i in range(count):
        hist.put(hist.ring[(location + i) % 1024], out)
    return None


def _match_count(bits: _Bits) -> tuple[int | None, int]:
    """The Match Count Field after a copy pointer's 1 bit: (count, last field bits), or
    (None, bits) when the field is 1111 followed by 1111xxxx, i.e. a control symbol."""
    if bits.read(1) == 0:
        return 2 + bits.read(1), 0
    if bits.read(1) == 0:
        return 4 + bits.read(2), 0
    if bits.read(1) == 0:
        return 8 + bits.read(3), 0
    if bits.read(1) == 0:
        return 16 + bits.read(4), 0
    v = bits.read(8)
    if v >= 0xF0:
        return None, v
    return 32 + v, v


def _apply_control(bits: _Bits, hist: _History, code: int, scheme: int) -> int:
    if code in (5, 6):
        hist.reset()
        return code - 4
    if code in (1, 2):
        return code if hist.defined else scheme
    if code in (0, 3, 15):
        want = 1 if code == 15 else 0
        while bits.pos % 32:
            if bits.read(1) != want:
                raise ReferenceSldcError("bad_pad")
        return scheme
    raise ReferenceSldcError("reserved")


def _framing(data: bytes, eor_end: int, length: int) -> None:
    bits = _Bits(data)
    bits.pos = eor_end
    while bits.pos % 16:
        if bits.read(1):
            raise ReferenceSldcError("bad_pad")
    rest = data[bits.pos // 8 :]
    zeros_to_32 = b"" if bits.pos % 32 == 0 else b"\0\0"
    end_marker = zeros_to_32 + b"\xff" * 4
    # (what precedes the optional trailer), most specific first: FF FF FF FF on a 32-bit
    # boundary is an End Marker, never a 4-gigabyte trailer.
    for head in (end_marker, zeros_to_32, b""):
        for trailer_len in (0, 4):
            if len(rest) == len(head) + trailer_len and rest.startswith(head):
                if trailer_len:
                    _trailer(rest[len(head) :], length)
                return
    raise ReferenceSldcError("trailing_data")


def _trailer(trailer: bytes, length: int) -> None:
    if int.from_bytes(trailer, "little") != length:
        raise ReferenceSldcError("bad_trailer")
