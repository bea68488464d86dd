# SPDX-License-Identifier: GPL-3.0-or-later
"""The UTF-16 scan, compiled by numba. Private: use :mod:`accel.utf16`."""

from __future__ import annotations

import numpy as np

from accel._jit import kernel

BLOCK = 512  # units per block: vectorised max inside, early exit between blocks


@kernel
def max_unit(units: np.ndarray) -> int:  # pragma: no cover - compiled
    """The largest code unit, or the first block maximum above 0xFF as soon as one is seen:
    a CJK or emoji body is told apart after its first such character, not after a full pass."""
    n = units.shape[0]
    top = 0
    start = 0
    while start < n:
        stop = min(start + BLOCK, n)
        block = 0
        for i in range(start, stop):
            unit = np.int64(units[i])
            block = unit if unit > block else block
        if block > 0xFF:
            return block
        top = block if block > top else top
        start = stop
    return top
