# SPDX-License-Identifier: GPL-3.0-or-later
"""accel.sldc against the independent encoder (round trips) and the pure-Python oracle."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accel.sldc import SldcError, decompress, default_cap
from tests.accel.events import event_xml
from tests.support import sldc_ref
from wec.sim.sldc import compress

ACCEL = settings.get_profile("accel")


def oracle(body: bytes, max_output: int) -> tuple[str, bytes | str]:
    try:
        return "ok", sldc_ref.decompress(body, max_output)
    except sldc_ref.ReferenceSldcError as err:
        return "error", err.reason


def fast(body: bytes, max_output: int) -> tuple[str, bytes | str]:
    try:
        return "ok", decompress(body, max_output=max_output)
    except SldcError as err:
        return "error", err.reason


@st.composite
def encoder_options(draw: st.DrawFn, size: int) -> dict[str, Any]:
    offsets = st.lists(st.integers(0, size), max_size=4)
    return {
        "scheme2": draw(st.booleans()),
        "windows_framing": draw(st.booleans()),
        "resets": draw(offsets),
        "flushes": draw(offsets),
        "file_marks": draw(offsets),
        "switches": draw(st.dictionaries(st.integers(0, size), st.sampled_from([1, 2]), max_size=4)),
        "end_marker": draw(st.booleans()),
        "trailer": draw(st.none() | st.booleans()),
        "max_distance": draw(st.sampled_from([1, 2, 7, 8, 9, 300, 1023, 1024])),
    }


# Data with repetition at every distance, not only noise: runs, repeats of earlier slices.
repetitive = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=40),
        st.tuples(st.integers(0, 255), st.integers(1, 600)).map(lambda t: bytes([t[0]]) * t[1]),
    ),
    max_size=30,
).map(b"".join)


@given(st.data())
@settings(ACCEL)
def test_random_data_round_trips_through_the_test_encoder(data: st.DataObject) -> None:
    plain = data.draw(st.one_of(st.binary(max_size=3000), repetitive), label="plain")
    options = data.draw(encoder_options(len(plain)), label="options")
    body = compress(plain, **options)
    assert decompress(body, max_output=len(plain)) == plain


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 4), cjk=st.booleans(), cut=st.integers(0, 5000))
@settings(ACCEL)
def test_realistic_utf16_events_round_trip_in_windows_framing(seed: int, n: int, cjk: bool, cut: int) -> None:
    rng = random.Random(seed)
    xml = "".join(event_xml(rng, 1000 + i, cjk=cjk) for i in range(n))
    plain = ("\ufeff" + xml).encode("utf-16-le")[: cut or None]
    body = compress(plain)
    assert body[:2] in {b"\xff\xa8", b"\xff\xa9", b"\xff\xaa", b"\xff\xab"}  # Reset 1 at bit 0
    assert body[-4:] == len(plain).to_bytes(4, "little")
    assert decompress(body) == plain


@given(body=st.binary(max_size=96), max_output=st.integers(0, 400))
@settings(ACCEL)
def test_decoder_matches_the_oracle_on_arbitrary_bytes(body: bytes, max_output: int) -> None:
    assert fast(body, max_output) == oracle(body, max_output)


def _valid_prefixes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes behind the start of a real body: the decoder gets past the Reset."""
    return st.tuples(
        st.sampled_from([b"\xff\xa8", b"\xff\xa9", b"\xff\xac", b"\xff\xb0"]), st.binary(max_size=200)
    ).map(b"".join)


@given(body=_valid_prefixes())
@settings(ACCEL)
def test_decoder_matches_the_oracle_after_a_reset(body: bytes) -> None:
    cap = default_cap(len(body))
    assert fast(body, cap) == oracle(body, cap)


@given(plain=repetitive, flips=st.lists(st.integers(0, 10**6), min_size=1, max_size=3), data=st.data())
@settings(ACCEL)
def test_decoder_matches_the_oracle_on_corrupted_bodies(
    plain: bytes, flips: list[int], data: st.DataObject
) -> None:
    options = data.draw(encoder_options(len(plain)))
    body = bytearray(compress(plain, **options))
    for flip in flips:
        bit = flip % (8 * len(body))
        body[bit // 8] ^= 0x80 >> (bit % 8)
    cap = len(plain) + 300
    assert fast(bytes(body), cap) == oracle(bytes(body), cap)


@given(body=st.binary(max_size=4096), max_output=st.none() | st.integers(0, 10**6))
@settings(ACCEL)
def test_arbitrary_bytes_raise_nothing_but_sldc_error(body: bytes, max_output: int | None) -> None:
    with contextlib.suppress(SldcError):
        decompress(body, max_output=max_output)
