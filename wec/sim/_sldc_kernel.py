# SPDX-License-Identifier: GPL-3.0-or-later
"""The SLDC encoder of :mod:`wec.sim.sldc`, compiled by numba. Private: use ``compress``.

It must produce the very bytes of the pure-Python encoder (``engine="python"``), which stays the
reference; the tests compare the two on generated inputs. Independent of ``accel`` by design:
nothing here is shared with the decoder it is used to test.

Theory of operation:

* Match finding (ECMA-321 §7.3: a 1024-byte history, copies of 2–271 bytes). The Python
  encoder takes, at each position, the longest match within ``max_distance`` bytes written since
  the last Reset, the most recent source on ties, and a 2-byte match only when no 3-byte one
  exists. Here the same search runs over a hash chain of 3-byte prefixes (``head3``/``prev3``,
  newest first) plus a direct table of the last position of every 2-byte prefix (``last2``).
  The chain is walked newest to oldest and stops at the first position older than the window
  (``lowest``), so every candidate the Python dicts hold is visited in the same order; hash
  collisions are filtered by comparing the 3 bytes. A candidate is measured only if it agrees
  with the position at offset ``best`` (otherwise it cannot be longer), and a strictly longer
  match replaces the best, which keeps the most recent source on ties. Chains stay short on
  event XML (about 2.4 candidates per search measured); a few-letter alphabet is the slow case
  (~5 MB/s), still bounded by the 1024-byte window.
* Resets never clear the tables: ``lowest`` is at least the Reset's offset, and positions are
  inserted in increasing order, so entries from before it end every walk.
* Bits. ``state`` holds the accumulator (fewer than 8 pending bits between writes) and the
  output index; ``out`` is sized for the worst case up front (9 bits per input byte — no symbol
  costs more per byte — plus 44 bits per control symbol and its pad), so no write is checked.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["encode"]

# Mirrors wec.sim.sldc (ECMA-321 §8.5 codes). Event kinds: a Flush, File Mark or scheme switch
# is its own control code; a Reset is written as Reset 1 or 2 after the scheme in force.
HISTORY_MASK = 1023
MAX_MATCH = 271
EOR, END_MARKER, RESET_1, RESET_2, SCHEME_1, SCHEME_2 = 4, 15, 5, 6, 1, 2
EV_FLUSH, EV_FILE_MARK, EV_RESET, EV_SCHEME_1, EV_SCHEME_2 = 0, 3, 100, 1, 2

_HASH_SIZE = 1 << 15
_HASH_MASK = _HASH_SIZE - 1
_HASH_MUL = 2654435761  # Knuth's multiplicative hash; bits 16..30 of the product index head3


def _jit(fn: Any) -> Any:
    # cache=True raises at decoration when no cache directory is usable (a read-only install
    # with no home): compile in memory then, as the collector's accel does.
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # pragma: no cover - depends on the file system
        return numba.njit(nogil=True)(fn)


def _helper(fn: Any) -> Any:
    return numba.njit(nogil=True)(fn)


@_helper
def _put(out: np.ndarray, state: np.ndarray, value: int, nbits: int) -> None:  # pragma: no cover
    """Append ``nbits`` (at most 31) bits of ``value``, MSB first."""
    acc = (state[0] << nbits) | value
    nacc = state[1] + nbits
    op = state[2]
    while nacc >= 8:
        nacc -= 8
        out[op] = (acc >> nacc) & 0xFF
        op += 1
    state[0] = acc & ((1 << nacc) - 1)
    state[1] = nacc
    state[2] = op


@_helper
def _pad(out: np.ndarray, state: np.ndarray, boundary: int, bit: int) -> None:  # pragma: no cover
    """Fill with ``bit`` to the next multiple of ``boundary`` bits (counted from bit 0)."""
    n = (boundary - (state[2] * 8 + state[1]) % boundary) % boundary
    _put(out, state, ((1 << n) - 1) if bit else 0, n)


@_helper
def _control(out: np.ndarray, state: np.ndarray, code: int) -> None:  # pragma: no cover
    # ECMA-321 §8.5: Flush, File Mark and EOR end in ZEROs to 32 bits, End Marker in ONEs.
    _put(out, state, (0x1FF << 4) | code, 13)
    if code == 0 or code == 3 or code == EOR:
        _pad(out, state, 32, 0)
    elif code == END_MARKER:
        _pad(out, state, 32, 1)


@_helper
def _copy(out: np.ndarray, state: np.ndarray, count: int, location: int) -> None:  # pragma: no cover
    # Match Count Field, ECMA-321 §8.4.2.
    if count < 4:
        mcf, mlen = count - 2, 2
    elif count < 8:
        mcf, mlen = 0b1000 | (count - 4), 4
    elif count < 16:
        mcf, mlen = 0b110000 | (count - 8), 6
    elif count < 32:
        mcf, mlen = 0b11100000 | (count - 16), 8
    else:
        mcf, mlen = (0b1111 << 8) | (count - 32), 12
    _put(out, state, (((1 << mlen) | mcf) << 10) | location, 1 + mlen + 10)


@_jit
def encode(
    d: np.ndarray,
    ev_pos: np.ndarray,
    ev_kind: np.ndarray,
    scheme2: bool,
    max_distance: int,
    windows_framing: bool,
    end_marker: bool,
) -> np.ndarray:  # pragma: no cover - compiled
    """The record's bits up to its last pad, byte-completed with ZEROs (no trailer).

    ``ev_pos``/``ev_kind``: control symbols to write before input offsets (0..len), sorted by
    offset and, within one offset, in the order the Python encoder writes them.
    """
    n = d.shape[0]
    ne = ev_pos.shape[0]
    out = np.zeros((n * 9) // 8 + ne * 6 + 64, dtype=np.uint8)
    state = np.zeros(3, dtype=np.int64)  # accumulator, pending bits, output index
    head3 = np.full(_HASH_SIZE, -1, dtype=np.int32)
    prev3 = np.empty(max(n, 1), dtype=np.int32)
    last2 = np.full(65536, -1, dtype=np.int32)

    scheme = 2 if scheme2 else 1
    _control(out, state, RESET_2 if scheme == 2 else RESET_1)
    base = 0
    pos = 0
    ei = 0
    while True:
        while ei < ne and ev_pos[ei] == pos:
            kind = ev_kind[ei]
            if kind == EV_RESET:
                _control(out, state, RESET_2 if scheme == 2 else RESET_1)
                base = pos
            elif kind in (EV_SCHEME_1, EV_SCHEME_2):
                scheme = kind
                _control(out, state, SCHEME_2 if kind == EV_SCHEME_2 else SCHEME_1)
            else:
                _control(out, state, kind)
            ei += 1
        if pos >= n:
            break
        end = ev_pos[ei] if ei < ne else n
        while pos < end:
            advance = 1
            if scheme == 2:
                byte = np.int64(d[pos])
                if byte == 0xFF:
                    _put(out, state, 0xFF << 1, 9)
                else:
                    _put(out, state, byte, 8)
            else:
                limit = min(MAX_MATCH, end - pos)
                lowest = max(base, pos - max_distance)
                best = 0
                best_src = -1
                if limit >= 3:
                    b0, b1, b2 = d[pos], d[pos + 1], d[pos + 2]
                    key = (np.int64(b0) << 16) | (np.int64(b1) << 8) | np.int64(b2)
                    src = int(head3[((key * _HASH_MUL) >> 16) & _HASH_MASK])
                    while src >= lowest:
                        if (
                            d[src] == b0
                            and d[src + 1] == b1
                            and d[src + 2] == b2
                            and (best == 0 or d[src + best] == d[pos + best])
                        ):
                            length = 3
                            while length < limit and d[src + length] == d[pos + length]:
                                length += 1
                            if length > best:
                                best = length
                                best_src = src
                                if best == limit:
                                    break
                        src = int(prev3[src])
                if best == 0 and limit >= 2:
                    src = int(last2[(np.int64(d[pos]) << 8) | np.int64(d[pos + 1])])
                    if src >= lowest:
                        best = 2
                        best_src = src
                if best >= 2:
                    _copy(out, state, best, (best_src - base) & HISTORY_MASK)
                    advance = best
                else:
                    _put(out, state, np.int64(d[pos]), 9)
            # Every byte written enters the history (ECMA-321 §7.3), whatever the scheme.
            # Written out here rather than as a helper: a call taking the tables costs ~60 ns
            # per byte even when inlined (measured), more than everything else together.
            for p in range(pos, min(pos + advance, n - 1)):
                last2[(np.int64(d[p]) << 8) | np.int64(d[p + 1])] = p
                if p + 3 <= n:
                    key = (np.int64(d[p]) << 16) | (np.int64(d[p + 1]) << 8) | np.int64(d[p + 2])
                    h = ((key * _HASH_MUL) >> 16) & _HASH_MASK
                    prev3[p] = head3[h]
                    head3[h] = p
            pos += advance

    if windows_framing:
        # Windows pads the End of Record to 16 bits, not 32 (docs/protocol.md §6.3).
        _put(out, state, (0x1FF << 4) | EOR, 13)
        _pad(out, state, 16, 0)
    else:
        _control(out, state, EOR)
    if end_marker:
        _pad(out, state, 32, 0)
        _control(out, state, END_MARKER)
    _pad(out, state, 8, 0)
    return out[: state[2]]
