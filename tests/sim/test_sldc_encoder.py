# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's SLDC encoder: the numba engine writes exactly the bytes of the pure-Python
reference engine, and what either writes decodes back with the collector's decoder and with the
test oracle (ECMA-321; Windows framing, docs/protocol.md §6.3)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.sldc import decompress, default_cap
from tests.support import sldc_ref
from wec.sim import sldc, soap
from wec.sim.events import EventLog, render_event

ROOT = Path(__file__).resolve().parents[2]
MODEST = settings(
    max_examples=int(os.environ.get("WEC_SLDC_EXAMPLES", "60")),
    deadline=None,  # the first numba call compiles (or loads the cache)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASE_TIME = datetime(2025, 3, 4, 10, 15, 21, tzinfo=UTC)


def events_body(seed: int, count: int, rendered: bool = True) -> bytes:
    """An Events envelope as the simulator sends it: BOM + UTF-16LE, rendered events as CDATA."""
    log = EventLog("ws042.corp.example", count, seed=seed)
    xml = [render_event(e, "ws042.corp.example", BASE_TIME, seed, rendered) for e in log.entries()]
    refs = [soap.RefParam(soap.NS_E, "Identifier", "{5B6F0E36-3E5B-4B8B-9F1A-0C5D1B0D3E7A}")]
    envelope = soap.build_events(
        "http://wec.test.local:5985/wsman/subscriptions/x",
        "ws042.corp.example",
        "uuid:00000000-0000-0000-0000-000000000001",
        refs,
        xml,
        None,
        "uuid:00000000-0000-0000-0000-000000000002",
        "uuid:00000000-0000-0000-0000-000000000003",
    )
    return soap.encode_utf16(envelope)


def both_engines(data: bytes, **options: Any) -> bytes:
    python = sldc.compress(data, engine="python", **options)
    fast = sldc.compress(data, engine="numba", **options)
    assert fast == python
    return fast


def assert_decodes(body: bytes, plain: bytes) -> None:
    assert decompress(body, max_output=len(plain)) == plain
    assert sldc_ref.decompress(body, max(len(plain), default_cap(len(body)))) == plain


# Inputs with matches at every length and distance, not only noise.
runs = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=40),
        st.tuples(st.integers(0, 255), st.integers(1, 600)).map(lambda t: bytes([t[0]]) * t[1]),
        st.tuples(st.binary(min_size=1, max_size=5), st.integers(1, 120)).map(lambda t: t[0] * t[1]),
    ),
    max_size=30,
).map(b"".join)
# Around the history size: a match source exactly 1023/1024/1025 bytes back.
history_sized = st.tuples(
    st.sampled_from([1023, 1024, 1025, 2047, 2048, 2049]),
    st.binary(min_size=1, max_size=8),
    st.integers(0, 2**32 - 1),
    st.booleans(),
).map(lambda t: (t[1] * t[0])[: t[0]] if t[3] else random.Random(t[2]).randbytes(t[0] - 8) + (t[1] * 8)[:8])
all_same = st.tuples(st.integers(0, 255), st.sampled_from([1, 2, 3, 271, 272, 1024, 1025, 2048, 5000])).map(
    lambda t: bytes([t[0]]) * t[1]
)
# A few letters: long hash chains whose candidates mostly fail, the finder's slow path.
small_alphabet = st.lists(st.sampled_from(b"ab\x00"), max_size=3000).map(bytes)
inputs = st.one_of(st.binary(max_size=3000), runs, history_sized, all_same, small_alphabet)


@st.composite
def encoder_options(draw: st.DrawFn, size: int) -> dict[str, Any]:
    offsets = st.lists(st.integers(-2, size + 2), max_size=4)
    return {
        "scheme2": draw(st.booleans()),
        "windows_framing": draw(st.booleans()),
        "resets": draw(offsets),
        "flushes": draw(offsets),
        "file_marks": draw(offsets),
        "switches": draw(st.dictionaries(st.integers(-2, size + 2), st.sampled_from([1, 2]), max_size=4)),
        "end_marker": draw(st.booleans()),
        "trailer": draw(st.none() | st.booleans()),
        "max_distance": draw(st.sampled_from([1, 2, 3, 7, 8, 300, 1023, 1024])),
    }


@given(data=inputs)
@MODEST
def test_engines_write_identical_windows_records_that_decode_back(data: bytes) -> None:
    body = both_engines(data)
    assert body[:1] == b"\xff" and body[-4:] == len(data).to_bytes(4, "little")
    assert_decodes(body, data)


@given(
    seed=st.integers(0, 2**32 - 1), count=st.integers(1, 12), rendered=st.booleans(), cut=st.integers(0, 4000)
)
@MODEST
def test_engines_agree_on_realistic_utf16_event_batches(
    seed: int, count: int, rendered: bool, cut: int
) -> None:
    plain = events_body(seed, count, rendered)
    for data in (plain, plain[cut:]):
        assert_decodes(both_engines(data), data)


@given(st.data())
@MODEST
def test_engines_agree_with_every_encoder_option(data: st.DataObject) -> None:
    plain = data.draw(inputs, label="plain")
    options = data.draw(encoder_options(len(plain)), label="options")
    body = both_engines(plain, **options)
    if options["trailer"] is False or (options["trailer"] is None and not options["windows_framing"]):
        assert decompress(body, max_output=len(plain)) == plain
    else:
        assert_decodes(body, plain)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1023, 1024, 1025, 2048])
@pytest.mark.parametrize("max_distance", [1023, 1024])
def test_engines_agree_on_periodic_data_at_history_boundaries(size: int, max_distance: int) -> None:
    # A period of 1024 puts every match source exactly at the history's edge.
    data = (random.Random(size).randbytes(1024) * 3)[:size]
    body = both_engines(data, max_distance=max_distance)
    assert_decodes(body, data)


@pytest.mark.parametrize("seed", range(4))
def test_engines_agree_when_many_distinct_trigrams_share_the_window(seed: int) -> None:
    # Every (a, 0, c) for a, c < 48, shuffled: about 2300 distinct 3-byte prefixes within reach
    # of each other, enough for any small hash table to collide; only real matches may be taken.
    triples = [bytes([a, 0, c]) for a in range(48) for c in range(48)]
    random.Random(seed).shuffle(triples)
    data = b"".join(triples)
    assert_decodes(both_engines(data), data)


def test_a_large_event_batch_is_identical_and_compresses() -> None:
    plain = events_body(seed=3, count=100)
    body = both_engines(plain)
    assert len(body) < len(plain) // 2
    assert_decodes(body, plain)


def test_the_default_engine_is_numba_and_matches_the_reference() -> None:
    plain = events_body(seed=5, count=3)
    assert sldc.compress(plain) == sldc.compress(plain, engine="python")
    sldc.warm_up()
    assert "wec.sim._sldc_kernel" in sys.modules


def test_bad_arguments_are_value_errors_in_both_engines() -> None:
    for engine in ("python", "numba"):
        with pytest.raises(ValueError, match="max_distance"):
            sldc.compress(b"abc", max_distance=0, engine=engine)
        with pytest.raises(ValueError, match="scheme"):
            sldc.compress(b"abc", switches={1: 3}, engine=engine)
    with pytest.raises(ValueError, match="engine"):
        sldc.compress(b"abc", engine="zlib")  # type: ignore[arg-type]


def test_the_encoder_compresses_without_importing_accel() -> None:
    # Independence: a decoder bug must not be mirrored by the encoder the tests check it with.
    code = (
        "import sys, wec.sim.sldc as s; s.warm_up(); s.compress(b'abcabcabc' * 50);"
        "print(sorted(m for m in sys.modules if m == 'accel' or m.startswith('accel.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
