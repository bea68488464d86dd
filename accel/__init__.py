# SPDX-License-Identifier: GPL-3.0-or-later
"""Hot-path kernels of the collector: SLDC decompression (numba) and UTF-16 decoding (numpy).

This package never imports ``wec``: it is a leaf that the collector (and benchmarks) use.

* :mod:`accel.sldc` — ``decompress(body)``, ``SldcError``, ``default_cap``.
* :mod:`accel.utf16` — ``decode(body) -> Decoded`` (a str with ``.replacements`` and
  ``.encoding``), ``encode(text)``.
* :func:`configure_cache` — where numba keeps compiled kernels (see :mod:`accel._jit`).
* :func:`warm_up` — compile (or load from the cache) every kernel before serving.
"""

from __future__ import annotations

import time

from accel._jit import cache_dir, configure_cache

__all__ = ["cache_dir", "configure_cache", "warm_up"]

# b"warm-up warm-up \xff\xff": Reset 1, literals, a Flush, a copy, Scheme 2 with two escaped
# 0xFF, EOR, 16-bit pad, length trailer: every path the kernels compile.
_WARM_SLDC = bytes.fromhex("ffa9dcc272368b4ea70107fc00000000e0007fcbfdfeffa012000000")


def warm_up() -> float:
    """Compile every kernel (or load it from the on-disk cache) by running each on a tiny
    input; returns the seconds it took. The server calls this before accepting connections so
    that the first Windows body does not pay for compilation."""
    from accel import sldc, utf16

    start = time.perf_counter()
    sldc.decompress(_WARM_SLDC)
    utf16.decode(utf16.encode("warm-up é" * 2048))  # large enough for the numpy path
    return time.perf_counter() - start
