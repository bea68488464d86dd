# SPDX-License-Identifier: GPL-3.0-or-later
"""Throughput of the simulator's SLDC encoder (``wec.sim.sldc``): the numba engine beside the
pure-Python reference engine and ``zlib.compress`` level 6, measured in the same run.

Run: ``.venv/bin/pytest bench/test_bench_sim_sldc.py --benchmark-only`` (the summary at the end
prints MB/s of *input* and the ratios). No assertion on speed: the machine is shared.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import RATIOS, record

from wec.sim import sldc, soap
from wec.sim.events import EventLog, render_event


def events_body(count: int, seed: int = 1) -> bytes:
    """An Events envelope of ``count`` rendered events, as the simulator sends it (UTF-16LE)."""
    computer = "ws042.corp.example"
    log = EventLog(computer, count, seed=seed)
    base = datetime(2025, 3, 4, 10, 15, 21, tzinfo=UTC)
    xml = [render_event(e, computer, base, seed, rendered=True) for e in log.entries()]
    refs = [soap.RefParam(soap.NS_E, "Identifier", "{5B6F0E36-3E5B-4B8B-9F1A-0C5D1B0D3E7A}")]
    return soap.encode_utf16(
        soap.build_events(
            "http://wec.test.local:5985/wsman/subscriptions/x",
            computer,
            soap.new_uuid(),
            refs,
            xml,
            None,
            soap.new_uuid(),
            soap.new_uuid(),
        )
    )


BATCH = events_body(100)  # the load benchmark's batch size
SMALL = events_body(1)  # one event: the many small bodies of a lightly loaded source

RATIOS.extend(
    [
        ("SLDC encode, 100 events: numba / Python", "sim-sldc-batch-numba", "sim-sldc-batch-python"),
        ("SLDC encode, 100 events: numba / zlib -6", "sim-sldc-batch-numba", "sim-sldc-batch-zlib"),
        ("SLDC encode, 1 event: numba / zlib -6", "sim-sldc-small-numba", "sim-sldc-small-zlib"),
    ]
)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    sldc.warm_up()
    assert sldc.compress(BATCH) == sldc.compress(BATCH, engine="python")


def run(benchmark: Any, name: str, fn: Any, data: bytes, rounds: int) -> None:
    benchmark.pedantic(fn, args=(data,), rounds=rounds, iterations=1, warmup_rounds=1)
    record(benchmark, name, len(data))


def python_engine(data: bytes) -> bytes:
    return sldc.compress(data, engine="python")


def zlib6(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def test_sim_sldc_batch_numba(benchmark: Any) -> None:
    run(benchmark, "sim-sldc-batch-numba", sldc.compress, BATCH, rounds=100)


def test_sim_sldc_batch_python(benchmark: Any) -> None:
    run(benchmark, "sim-sldc-batch-python", python_engine, BATCH, rounds=3)


def test_sim_sldc_batch_zlib(benchmark: Any) -> None:
    run(benchmark, "sim-sldc-batch-zlib", zlib6, BATCH, rounds=100)


def test_sim_sldc_small_numba(benchmark: Any) -> None:
    run(benchmark, "sim-sldc-small-numba", sldc.compress, SMALL, rounds=1000)


def test_sim_sldc_small_zlib(benchmark: Any) -> None:
    run(benchmark, "sim-sldc-small-zlib", zlib6, SMALL, rounds=1000)
