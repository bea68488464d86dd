# SPDX-License-Identifier: GPL-3.0-or-later
"""Throughput of the accel hot path beside its baselines, measured in the same run.

Run: ``.venv/bin/pytest bench/test_bench_accel.py --benchmark-only`` (the summary at the end
prints MB/s of decoded output and the ratios). No assertion on speed: the machine is shared.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from conftest import record

import accel
from accel import sldc, utf16
from tests.accel.events import envelope
from tests.support import sldc_ref
from tests.support.vectors import vector_path
from wec.sim.sldc import compress

ENVELOPE = ("\ufeff" + envelope(200)).encode("utf-16-le")  # ~520 KB, 200 events
ENVELOPE_BODY = compress(ENVELOPE)  # Windows framing, greedy scheme 1
# The oracle decodes ~1 MB/s: it gets the first 64 KB of the envelope, compressed alike.
SLICE = ENVELOPE[: 64 * 1024]
SLICE_BODY = compress(SLICE)
CJK = ("\ufeff" + envelope(200, cjk=True)).encode("utf-16-le")
FAST_ROUNDS = 300


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    accel.warm_up()


def run(benchmark: Any, name: str, fn: Any, arg: Any, nbytes: int, rounds: int = FAST_ROUNDS) -> Any:
    result = benchmark.pedantic(fn, args=(arg,), rounds=rounds, iterations=1, warmup_rounds=3)
    record(benchmark, name, nbytes)
    return result


def test_sldc_envelope_numba(benchmark: Any) -> None:
    assert run(benchmark, "sldc-envelope-numba", sldc.decompress, ENVELOPE_BODY, len(ENVELOPE)) == ENVELOPE


def test_sldc_envelope_zlib(benchmark: Any) -> None:
    z = zlib.compress(ENVELOPE)
    assert run(benchmark, "sldc-envelope-zlib", zlib.decompress, z, len(ENVELOPE)) == ENVELOPE


def test_sldc_slice_oracle(benchmark: Any) -> None:
    def ref(body: bytes) -> bytes:
        return sldc_ref.decompress(body, sldc.default_cap(len(body)))

    assert run(benchmark, "sldc-slice-oracle", ref, SLICE_BODY, len(SLICE), rounds=3) == SLICE


def test_sldc_heartbeat_numba(benchmark: Any) -> None:
    body = vector_path("sldc", "openwec_heartbeat.bin").read_bytes()
    raw = vector_path("sldc", "openwec_heartbeat.raw").read_bytes()
    assert run(benchmark, "sldc-heartbeat-numba", sldc.decompress, body, len(raw), rounds=3000) == raw


def test_sldc_heartbeat_zlib(benchmark: Any) -> None:
    raw = vector_path("sldc", "openwec_heartbeat.raw").read_bytes()
    z = zlib.compress(raw)
    assert run(benchmark, "sldc-heartbeat-zlib", zlib.decompress, z, len(raw), rounds=3000) == raw


def _codec(body: bytes) -> str:
    # The baseline a caller would write: CPython's codec, which also strips the BOM.
    return body.decode("utf-16")


@pytest.mark.parametrize(
    ("label", "body"),
    [("latin", ENVELOPE), ("cjk", CJK)],
)
def test_utf16_accel(benchmark: Any, label: str, body: bytes) -> None:
    result = run(benchmark, f"utf16-{label}-accel", utf16.decode, body, len(body))
    assert result.text == _codec(body)


@pytest.mark.parametrize(
    ("label", "body"),
    [("latin", ENVELOPE), ("cjk", CJK)],
)
def test_utf16_codec(benchmark: Any, label: str, body: bytes) -> None:
    run(benchmark, f"utf16-{label}-codec", _codec, body, len(body))


def test_utf16_heartbeat_accel(benchmark: Any) -> None:
    raw = vector_path("sldc", "openwec_heartbeat.raw").read_bytes()
    run(benchmark, "utf16-heartbeat-accel", utf16.decode, raw, len(raw), rounds=3000)


def test_utf16_heartbeat_codec(benchmark: Any) -> None:
    raw = vector_path("sldc", "openwec_heartbeat.raw").read_bytes()
    run(benchmark, "utf16-heartbeat-codec", _codec, raw, len(raw), rounds=3000)
