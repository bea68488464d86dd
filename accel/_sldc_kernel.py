# SPDX-License-Identifier: GPL-3.0-or-later
"""The ECMA-321 (SLDC) symbol decoder, compiled by numba. Private: use :mod:`accel.sldc`.

Theory of operation (ECMA-321 §7–§8, docs/protocol.md §6.2):

* Bit reader. ``src`` is the body plus 16 zero bytes, so an 8-byte load at any bit position
  of the body stays inside it. ``_window(src, pos)`` returns the 56 bits starting at bit ``pos``
  (MSB first): more than the longest symbol (23 bits, a copy pointer) and the longest pad
  (31 bits). The reader keeps no state but ``pos``; the window is re-read per symbol. Every
  value stays a non-negative int64 so numba never mixes signed and unsigned (which it would
  promote to float64).
* A symbol is decoded first and its length checked against ``nbits`` second: bits past the end
  read as zeros, and a symbol that used one of them necessarily ends past ``nbits``, which is
  reported as truncation before anything else about that symbol.
* History. There is no ring buffer: the output *is* the history. The 1024-byte history of
  ECMA-321 §7.3 maps location ``L`` to the most recent output byte whose index since the last
  Reset is congruent to ``L`` mod 1024, so a copy from location ``loc`` reads
  ``out[o - dist]`` with ``dist = ((w - loc - 1) mod 1024) + 1`` (``w`` = write location). Wrap
  1023 → 0 and overlapping copies fall out of a forward copy. A copy that reaches further
  back than the bytes written since the last Reset reads history "never written" and is
  rejected. A copy from ``loc == w`` in a full history reads the oldest byte (dist 1024), which
  is well defined and accepted.
* Output buffer. Grown by doubling, with 280 bytes of slack past the logical end so that one
  whole symbol (at most 271 bytes) can be written before the single per-symbol bound check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic

from accel._jit import inlined, inner, kernel

# Status codes returned by the kernel; accel.sldc turns them into SldcError reasons.
OK = 0
TRUNCATED = 1
MISSING_EOR = 2
RESERVED = 3
BEFORE_RESET = 4
UNWRITTEN = 5
BAD_PAD = 6
TOO_LARGE = 7
NEED_SPACE = 8  # internal: the output buffer must grow

SLACK = 280  # >= 271 (largest copy) + a few literals
SRC_PAD = 16  # zero bytes appended to the body for the 8-byte window loads
_MASK56 = (1 << 56) - 1


def _mcf_table() -> np.ndarray:
    """Match Count Field decoding (ECMA-321 §8.4.2) indexed by the 12 bits after the copy
    pointer's leading 1: ``count | (field length << 16)``. 4096 int32 = 16 KiB, L1-resident."""
    table = np.zeros(4096, dtype=np.int32)
    for top in range(4096):
        if top < 0x800:  # 0x      -> 2..3
            count, length = 2 + ((top >> 10) & 1), 2
        elif top < 0xC00:  # 10xx  -> 4..7
            count, length = 4 + ((top >> 8) & 3), 4
        elif top < 0xE00:  # 110xxx -> 8..15
            count, length = 8 + ((top >> 6) & 7), 6
        elif top < 0xF00:  # 1110xxxx -> 16..31
            count, length = 16 + ((top >> 4) & 15), 8
        else:  # 1111 + 8 bits v -> 32 + v (v >= 0xF0 is a control symbol, never looked up)
            count, length = 32 + (top & 0xFF), 12
        table[top] = count | (length << 16)
    return table


MCF_TABLE = _mcf_table()


def _window_intrinsic(typingctx: Any, src: Any, pos: Any) -> Any:
    """The 56 bits of ``src`` from bit ``pos`` on, MSB first, as a non-negative int64:
    one unaligned 8-byte load, a byte swap and two shifts."""
    sig = types.int64(src, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i64 = ir.IntType(64)
        ptr = builder.bitcast(
            builder.gep(data, [builder.lshr(args[1], ir.Constant(i64, 3))]), i64.as_pointer()
        )
        word = builder.bswap(builder.load(ptr, align=1))
        word = builder.shl(word, builder.and_(args[1], ir.Constant(i64, 7)))
        return builder.lshr(word, ir.Constant(i64, 8))

    return sig, codegen


def _copy8_intrinsic(typingctx: Any, buf: Any, dst: Any, src: Any) -> Any:
    """``buf[dst:dst+8] = buf[src:src+8]`` as one unaligned 8-byte load and store."""
    sig = types.void(buf, types.int64, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i64p = ir.IntType(64).as_pointer()
        word = builder.load(builder.bitcast(builder.gep(data, [args[2]]), i64p), align=1)
        builder.store(word, builder.bitcast(builder.gep(data, [args[1]]), i64p), align=1)
        return context.get_dummy_value()

    return sig, codegen


# Typed Any for mypy: called only from compiled code, with numba's types.
_window: Any = intrinsic(_window_intrinsic)
_copy8: Any = intrinsic(_copy8_intrinsic)


@inner
def _grow(out: np.ndarray, used: int, size: int) -> np.ndarray:  # pragma: no cover - compiled
    bigger = np.empty(size, dtype=np.uint8)
    bigger[:used] = out[:used]
    return bigger


@kernel
def decode(
    src: np.ndarray, nbits: int, out: np.ndarray, cap: int, mcf: np.ndarray
) -> tuple[int, int, int, np.ndarray]:  # pragma: no cover - compiled
    """Decode symbols from bit 0 up to and including the first End of Record.

    Returns ``(status, output length, bit position, output buffer)``; on OK the position is the
    first bit after the EOR symbol (its pad is checked by the caller, with the framing).
    """
    # pos, output length, history base (output index of the last Reset), scheme
    # (0 = no Reset yet: history undefined, ECMA-321 §8.2).
    state = np.zeros(4, dtype=np.int64)
    while True:
        status = _run(src, nbits, out, min(cap, out.shape[0] - SLACK), mcf, state)
        o = state[1]
        if status != NEED_SPACE:
            return status, o, state[0], out
        if o > cap:
            return TOO_LARGE, o, state[0], out
        # Growth lives out here: reassigning the array inside the symbol loop costs 3x.
        out = _grow(out, o, min(max(2 * out.shape[0], 4096), cap + SLACK))


@inner
def _run(
    src: np.ndarray, nbits: int, out: np.ndarray, limit: int, mcf: np.ndarray, state: np.ndarray
) -> int:  # pragma: no cover - compiled
    """The symbol loop, resumable: stops with NEED_SPACE once the output passes ``limit``."""
    pos = state[0]
    o = state[1]
    base = state[2]
    scheme = state[3]
    status = NEED_SPACE
    fast_end = nbits - 22  # a symbol starting before this ends by nbits (23 bits at most)
    while True:
        if scheme == 1 and pos < fast_end and o <= limit:
            pos, o = _scheme1_run(src, out, mcf, pos, o, base, fast_end, limit)
        # One symbol, every check made: a control symbol, an error, or the last bits.
        if o > limit:
            status = NEED_SPACE
            break
        if pos >= nbits:
            status = MISSING_EOR
            break
        w = _window(src, pos)
        if scheme == 1:
            if w >> 55 == 0:  # Literal 1: 0 + byte (§8.4.1)
                out[o] = (w >> 47) & 0xFF
                o += 1
                pos += 9
                if pos > nbits:
                    status = TRUNCATED
                    break
            elif w >> 47 != 0x1FF:  # Copy Pointer: 1 + MCF + 10-bit location (§8.4.2)
                entry = mcf[(w >> 43) & 0xFFF]
                count = entry & 0xFFFF
                flen = entry >> 16
                loc = (w >> (45 - flen)) & 0x3FF
                pos += 11 + flen
                if pos > nbits:
                    status = TRUNCATED
                    break
                rel = o - base
                dist = ((rel - loc - 1) & 1023) + 1  # 1..1024
                if dist > rel:
                    status = UNWRITTEN
                    break
                _copy(out, o, dist, count)
                o += count
            else:
                pos, scheme, base, status = _control(src, nbits, pos, w, scheme, base, o)
                if status != OK or scheme < 0:
                    break
        elif scheme == 2:
            byte = w >> 48
            if byte != 0xFF:  # Literal 2 (§8.4.3)
                out[o] = byte
                o += 1
                pos += 8
            elif (w >> 47) & 1 == 0:  # 0xFF escaped by one 0 bit
                out[o] = 0xFF
                o += 1
                pos += 9
            else:
                pos, scheme, base, status = _control(src, nbits, pos, w, scheme, base, o)
                if status != OK or scheme < 0:
                    break
                continue
            if pos > nbits:
                status = TRUNCATED
                break
        else:
            if w >> 47 != 0x1FF:
                # Data before any Reset: its meaning would depend on undefined history.
                status = TRUNCATED if pos + 9 > nbits else BEFORE_RESET
                break
            pos, scheme, base, status = _control(src, nbits, pos, w, scheme, base, o)
            if status != OK or scheme < 0:
                break
    state[0] = pos
    state[1] = o
    state[2] = base
    state[3] = scheme
    return status


@inner
def _scheme1_run(
    src: np.ndarray,
    out: np.ndarray,
    mcf: np.ndarray,
    pos: int,
    o: int,
    base: int,
    fast_end: int,
    limit: int,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """The hot loop: scheme-1 literals and copy pointers, far enough from the end that no
    symbol can be truncated and with room in ``out``, so with no check but history. Stops,
    without consuming it, at anything else (a control symbol, a copy from unwritten history)
    for :func:`_run` to judge. Returns ``(pos, o)``.

    One window load serves up to three symbols: while at least 23 of its 56 bits are left
    (``used <= 33``) the next symbol is decoded from the shifted window. The load is on the
    critical path (position -> load -> Match Count Field -> position), so sharing it was
    measured 15-25% faster on UTF-16 events, where half the copy pointers are 13-bit 2-byte ones.
    """
    end3 = fast_end - 46  # room for three symbols before the end ...
    limit3 = limit - 2 * SLACK  # ... and in the buffer
    stop = False
    while pos < fast_end and o <= limit and not stop:
        w = _window(src, pos)
        used = 0
        rounds = 3 if pos < end3 and o <= limit3 else 1
        for _ in range(rounds):
            x = (w << used) & _MASK56
            if x >> 55 == 0:  # Literal 1 (§8.4.1)
                out[o] = (x >> 47) & 0xFF
                o += 1
                used += 9
            elif x >> 47 == 0x1FF:  # control symbol
                stop = True
                break
            else:  # Copy Pointer (§8.4.2)
                entry = mcf[(x >> 43) & 0xFFF]
                count = entry & 0xFFFF
                flen = entry >> 16
                loc = (x >> (45 - flen)) & 0x3FF
                rel = o - base
                dist = ((rel - loc - 1) & 1023) + 1
                if dist > rel:
                    stop = True
                    break
                _copy(out, o, dist, count)
                o += count
                used += 11 + flen
            if used > 33:
                break
        pos += used
    return pos, o


@inlined
def _copy(out: np.ndarray, o: int, dist: int, count: int) -> None:  # pragma: no cover - compiled
    """``count`` bytes from ``dist`` back, byte by byte in effect (so overlaps repeat)."""
    s = o - dist
    if dist >= 8:
        # 8 bytes at a time, overshooting into the slack: a chunk never reads what it
        # writes, and every byte it reads was written before.
        _copy8(out, o, s)
        i = 8
        while i < count:
            _copy8(out, o + i, s + i)
            i += 8
    else:
        for i in range(count):
            out[o + i] = out[s + i]


@inner
def _control(
    src: np.ndarray, nbits: int, pos: int, w: int, scheme: int, base: int, o: int
) -> tuple[int, int, int, int]:  # pragma: no cover - compiled
    """One control symbol (nine 1s + 4 bits, ECMA-321 §8.5) at ``pos``; ``w`` is its window.

    Returns ``(new pos, new scheme, new history base, status)``; scheme -1 means End of Record.
    """
    end = pos + 13
    if end > nbits:
        return end, scheme, base, TRUNCATED
    code = (w >> 43) & 0xF
    if code == 4:  # End of Record: pad and framing are checked by the caller
        return end, -1, base, OK
    if code == 5 or code == 6:  # Reset 1 / Reset 2: history emptied, write location 0
        return end, code - 4, o, OK
    if code == 1 or code == 2:  # Scheme 1 / Scheme 2 (no effect before the first Reset)
        return end, (code if scheme != 0 else 0), base, OK
    if code == 0 or code == 3 or code == 15:
        # Flush, File Mark: ZERO bits to the next 32-bit boundary; End Marker: ONE bits.
        # The bits present are judged before a short pad is called truncated.
        npad = (-end) & 31
        avail = min(npad, nbits - end)
        if avail > 0:
            bits = _window(src, end) >> (56 - avail)
            want = ((1 << avail) - 1) if code == 15 else 0
            if bits != want:
                return end, scheme, base, BAD_PAD
        if avail < npad:
            return end + npad, scheme, base, TRUNCATED
        return end + npad, scheme, base, OK
    return pos, scheme, base, RESERVED
