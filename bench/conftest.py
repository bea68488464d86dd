# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks: importable project root, and a summary of throughputs and same-run ratios."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name -> (bytes of decoded output per call, best seconds, median seconds)
RESULTS: dict[str, tuple[int, float, float]] = {}


def record(benchmark: Any, name: str, nbytes: int) -> None:
    stats = benchmark.stats.stats
    RESULTS[name] = (nbytes, stats.min, stats.median)
    benchmark.extra_info["MB/s (best)"] = round(nbytes / stats.min / 1e6, 1)
    benchmark.extra_info["MB/s (median)"] = round(nbytes / stats.median / 1e6, 1)


RATIOS = [
    ("SLDC envelope: numba / zlib", "sldc-envelope-numba", "sldc-envelope-zlib"),
    ("SLDC envelope: numba / pure-Python oracle", "sldc-envelope-numba", "sldc-slice-oracle"),
    ("SLDC heartbeat: numba / zlib", "sldc-heartbeat-numba", "sldc-heartbeat-zlib"),
    ("UTF-16 ASCII/Latin-1: accel / bytes.decode", "utf16-latin-accel", "utf16-latin-codec"),
    ("UTF-16 CJK/emoji: accel / bytes.decode", "utf16-cjk-accel", "utf16-cjk-codec"),
    ("UTF-16 heartbeat: accel / bytes.decode", "utf16-heartbeat-accel", "utf16-heartbeat-codec"),
]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("throughput (MB/s: decoded output for decoders, input for encoders; best / median)")
    for name, (nbytes, best, median) in RESULTS.items():
        tr.write_line(f"{name:28s} {nbytes:>9d} B  {nbytes / best / 1e6:9.1f}  {nbytes / median / 1e6:9.1f}")
    tr.section("same-run ratios (throughput of the first over the second; best / median)")
    for label, a, b in RATIOS:
        if a in RESULTS and b in RESULTS:
            (na, ba, ma), (nb, bb, mb) = RESULTS[a], RESULTS[b]
            best = (na / ba) / (nb / bb)
            median = (na / ma) / (nb / mb)
            tr.write_line(f"{label:45s} {best:7.2f}x {median:7.2f}x")
