# SPDX-License-Identifier: GPL-3.0-or-later
"""SLDC (ECMA-321) decompression of WEF bodies, exact and fast.

``decompress(body)`` decodes one body as Windows frames it (docs/protocol.md §6.3): symbols from bit 0
up to the first End of Record, then ZERO bits to a 16- or 32-bit boundary, then optionally an
End Marker with its ONEs pad (at the 32-bit boundary), then optionally a 4-byte little-endian
uncompressed-length trailer (MS-WSMV §2.2.9.2), which must match. Anything else after the EOR
is rejected. The whole of ECMA-321 is decoded before the EOR: both schemes, scheme switches,
Reset 1/2 anywhere, Flush and File Mark (ZERO pads), End Marker (ONEs pad), every match count
2–271, wrap-around and overlapping copies.

Every malformed input raises :class:`SldcError` (a ``ValueError``) and nothing else. Its
``reason`` is one of :data:`REASONS`, stable for logs and metrics.
"""

from __future__ import annotations

import threading

import numpy as np

from accel import _sldc_kernel as _k
from accel.bom import sniff_bom

__all__ = [
    "DEFAULT_MAX_ENVELOPE_SIZE",
    "REASONS",
    "SldcError",
    "decompress",
    "default_cap",
    "looks_uncompressed",
]

#: OpenWEC's and our default ``max_envelope_size`` (bytes), also the cap's default basis.
DEFAULT_MAX_ENVELOPE_SIZE = 512_000

#: Worst-case expansion of the format: 271 bytes out of a 23-bit copy pointer is about 94x.
_MAX_RATIO = 100
_CAP_MARGIN = 64

REASONS = (
    "truncated",  # the body ends inside a symbol or a pad
    "missing_eor",  # the body ends on a symbol boundary without an End of Record
    "reserved",  # control code 0111-1110 (ECMA-321 §8.5)
    "before_reset",  # a data symbol before the first Reset: history is undefined
    "unwritten",  # a copy pointer reads history not written since the last Reset
    "bad_pad",  # a Flush/File Mark/EOR pad with a 1 bit, or an End Marker pad with a 0 bit
    "too_large",  # output over max_output
    "trailing_data",  # bytes after the EOR that are neither pad, End Marker nor trailer
    "bad_trailer",  # the 4-byte length trailer differs from the decoded length
)

_STATUS_REASON = {
    _k.TRUNCATED: "truncated",
    _k.MISSING_EOR: "missing_eor",
    _k.RESERVED: "reserved",
    _k.BEFORE_RESET: "before_reset",
    _k.UNWRITTEN: "unwritten",
    _k.BAD_PAD: "bad_pad",
    _k.TOO_LARGE: "too_large",
}


class SldcError(ValueError):
    """A body that is not a valid SLDC record as Windows frames it.

    ``reason`` is one of :data:`REASONS`; ``bit`` the bit offset where decoding stopped.
    """

    def __init__(self, reason: str, bit: int, detail: str = "") -> None:
        self.reason = reason
        self.bit = bit
        text = f"SLDC: {reason.replace('_', ' ')} at bit {bit}"
        super().__init__(f"{text}: {detail}" if detail else text)


def default_cap(input_len: int, max_envelope_size: int = DEFAULT_MAX_ENVELOPE_SIZE) -> int:
    """The default output limit for a body of ``input_len`` bytes.

    ``min(100 * input_len + 64, 4 * max_envelope_size)``: 100x is above the format's worst
    case (~94x), so no valid body is refused for its ratio, while 4x the largest envelope a
    source may send bounds what a hostile body can cost (2 048 000 bytes at the default
    512 000). The 64 lets tiny bodies (a 16-byte test vector) through.
    """
    return min(_MAX_RATIO * input_len + _CAP_MARGIN, 4 * max_envelope_size)


# Each thread decodes into its own reusable buffer: fresh pages for every body (page faults,
# kernel zeroing) cost a third of the decode time of a 500 KB envelope.
_local = threading.local()
_KEEP_AT_MOST = 8 << 20


def _scratch(size: int) -> np.ndarray:
    buf: np.ndarray | None = getattr(_local, "buf", None)
    if buf is None or buf.shape[0] < size:
        buf = np.empty(max(size, 64 << 10), dtype=np.uint8)
    return buf


def _keep(buf: np.ndarray) -> None:
    if buf.shape[0] <= _KEEP_AT_MOST:
        _local.buf = buf


def _initial_size(data: bytes, cap: int) -> int:
    # The Windows trailer, when plausible, is the exact output size: one allocation, no growth.
    guess = 8 * len(data)
    if len(data) >= 4:
        hint = int.from_bytes(data[-4:], "little")
        if 0 < hint <= cap:
            guess = hint
    return min(max(guess, 1024), cap) + _k.SLACK


def looks_uncompressed(data: bytes) -> bool:
    """True for a body labelled SLDC that is plain text: it starts with a BOM or with ``<``.

    Windows sends the End that follows a SubscriptionEnd uncompressed under an SLDC label
    (docs/accel.md). The test never hides a valid record: :func:`decompress` refuses every
    such body anyway (``FF FE`` is an End Marker with a broken pad; ``FE FF``, ``EF BB BF`` and
    ``<`` are data before any Reset).
    """
    return sniff_bom(data) is not None or data[:1] == b"<"


def decompress(data: bytes, *, max_output: int | None = None) -> bytes:
    """Decode one SLDC-compressed WEF body (see the module doc for the accepted framing).

    ``max_output`` defaults to :func:`default_cap` of the body's length. Raises
    :class:`SldcError` for every malformed body, including an uncompressed UTF-16 body that
    starts with a BOM (``FF FE`` reads as an End Marker whose ONEs pad has a 0 bit).
    """
    if max_output is None:
        cap = default_cap(len(data))
    elif max_output < 0:
        raise ValueError("max_output must be >= 0")
    else:
        cap = min(max_output, 1 << 62)  # stays an int64 in the kernel, whatever is asked
    n = len(data)
    src = np.zeros(n + _k.SRC_PAD, dtype=np.uint8)
    src[:n] = np.frombuffer(data, dtype=np.uint8)
    out = _scratch(_initial_size(data, cap))
    status, length, pos, out = _k.decode(src, 8 * n, out, cap, _k.MCF_TABLE)
    _keep(out)
    if status != _k.OK:
        detail = f"output over {cap} bytes" if status == _k.TOO_LARGE else ""
        raise SldcError(_STATUS_REASON[status], int(pos), detail)
    _check_framing(data, int(pos), int(length))
    result: bytes = out[:length].tobytes()
    return result


def _bits(data: bytes, start: int, stop: int) -> int:
    """Bits ``[start, stop)`` of ``data``, MSB first, as an integer."""
    if stop <= start:
        return 0
    first, last = start >> 3, (stop + 7) >> 3
    chunk = int.from_bytes(data[first:last], "big")
    return (chunk >> (8 * last - stop)) & ((1 << (stop - start)) - 1)


def _check_framing(data: bytes, eor_end: int, length: int) -> None:
    """What may follow the End of Record (docs/protocol.md §6.3)."""
    b16 = -(-eor_end // 16) * 16
    b32 = -(-eor_end // 32) * 32
    total = 8 * len(data)
    if _bits(data, eor_end, min(b16, total)):
        raise SldcError("bad_pad", eor_end, "End of Record pad is not all ZEROs")
    if total < b16:
        raise SldcError("truncated", total, "End of Record pad incomplete")
    rest = data[b16 // 8 :]
    at = b16
    if not rest:
        return
    if b16 != b32:
        if len(rest) == 4:  # Windows: trailer right after the 16-bit pad
            _check_trailer(rest, at, length)
            return
        if rest[:2] != b"\0\0":
            raise SldcError("trailing_data", at, f"{len(rest)} bytes after End of Record")
        rest, at = rest[2:], b32
    if rest[:4] == b"\xff\xff\xff\xff":  # End Marker + ONEs pad, on a 32-bit boundary
        rest, at = rest[4:], at + 32
    if not rest:
        return
    if len(rest) == 4:
        _check_trailer(rest, at, length)
        return
    raise SldcError("trailing_data", at, f"{len(rest)} bytes after End of Record")


def _check_trailer(trailer: bytes, at: int, length: int) -> None:
    value = int.from_bytes(trailer, "little")
    if value != length:
        raise SldcError("bad_trailer", at, f"trailer says {value} bytes, decoded {length}")
