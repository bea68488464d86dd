# SPDX-License-Identifier: GPL-3.0-or-later
"""accel.sldc: ECMA-321 decoding, bit by bit, and the Windows framing (docs/protocol.md §6.3)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from accel.sldc import REASONS, SldcError, decompress, default_cap
from tests.accel.bitstream import EOR, RESET_1, RESET_2, assemble, control, copy, lit1, lit2, pad_to
from tests.support import sldc_ref
from tests.support.vectors import vector_path
from wec.sim.sldc import compress

FLUSH, SCHEME_1, SCHEME_2, FILE_MARK, END_MARKER = 0, 1, 2, 3, 15


def reason_of(body: bytes, **kw: int) -> str:
    with pytest.raises(SldcError) as info:
        decompress(body, **kw)
    assert info.value.reason in REASONS
    return info.value.reason


def lits(data: bytes) -> str:
    return "".join(lit1(b) for b in data)


# --- real Windows bodies -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openwec_heartbeat", "markkurossi_windows", "openwec_test_string"])
def test_public_vectors_decode_bit_exact(name: str) -> None:
    body = vector_path("sldc", f"{name}.bin").read_bytes()
    raw = vector_path("sldc", f"{name}.raw").read_bytes()
    assert decompress(body) == raw
    assert sldc_ref.decompress(body, default_cap(len(body))) == raw


def test_windows_heartbeat_with_a_wrong_trailer_is_rejected() -> None:
    body = vector_path("sldc", "openwec_heartbeat.bin").read_bytes()
    assert reason_of(body[:-4] + (3041).to_bytes(4, "little")) == "bad_trailer"


def test_windows_heartbeat_without_its_trailer_still_decodes() -> None:
    body = vector_path("sldc", "openwec_heartbeat.bin").read_bytes()
    raw = vector_path("sldc", "openwec_heartbeat.raw").read_bytes()
    assert decompress(body[:-4]) == raw


# --- scheme 1: literals and every match-count class -----------------------------------------


def test_literals_only() -> None:
    assert decompress(assemble(RESET_1, lits(b"AB\x00\xff"), EOR)) == b"AB\x00\xff"


@pytest.mark.parametrize("count", [2, 3, 4, 7, 8, 15, 16, 31, 32, 271])
def test_every_match_count_boundary(count: int) -> None:
    # "xyz" then a copy from location 0: an overlapping copy repeating "xyz".
    body = assemble(RESET_1, lits(b"xyz"), copy(count, 0), EOR)
    assert decompress(body) == (b"xyz" * 100)[: 3 + count]


@pytest.mark.parametrize(
    ("bits", "count"),
    [
        ("1 00", 2),
        ("1 01", 3),
        ("1 1000", 4),
        ("1 1011", 7),
        ("1 110000", 8),
        ("1 110111", 15),
        ("1 11100000", 16),
        ("1 11101111", 31),
        ("1 1111 00000000", 32),
        ("1 1111 11101111", 271),
    ],
)
def test_match_count_field_bits_from_the_standard(bits: str, count: int) -> None:
    body = assemble(RESET_1, lit1(ord("q")), bits, "0000000000", EOR)
    assert decompress(body) == b"q" * (1 + count)


def test_copy_location_is_absolute_not_a_distance() -> None:
    # "abcdef": location 2 is "c" whatever the write position.
    body = assemble(RESET_1, lits(b"abcdef"), copy(3, 2), EOR)
    assert decompress(body) == b"abcdefcde"


def test_overlapping_copy_repeats_what_it_writes() -> None:
    assert decompress(assemble(RESET_1, lits(b"ab"), copy(7, 0), EOR)) == b"ababababa"


def test_copy_of_one_byte_run_from_the_previous_byte() -> None:
    assert decompress(assemble(RESET_1, lits(b"za"), copy(10, 1), EOR)) == b"z" + b"a" * 11


def test_copy_wraps_from_1023_to_0() -> None:
    # 1030 bytes written: history locations 0..5 now hold bytes 1024..1029.
    data = bytes(i * 7 % 256 for i in range(1030))
    body = assemble(RESET_1, lits(data), copy(8, 1022), EOR)
    assert decompress(body) == data + data[1022:1030]


def test_wrapping_copy_reads_bytes_it_has_just_written() -> None:
    # ECMA-321's example: location 1022, length 10, with the write position at 0 (1024
    # written). Locations 0 and 1 are overwritten by the copy's own first two bytes.
    data = bytes(i % 251 for i in range(1024))
    body = assemble(RESET_1, lits(data), copy(10, 1022), EOR)
    assert decompress(body) == data + (data[1022:1024] * 5)


def test_copy_from_the_write_location_of_a_full_history_reads_the_oldest_byte() -> None:
    data = bytes(range(256)) * 4 + b"XY"  # 1026 bytes: write location 2 holds byte 2 ("\x02")
    body = assemble(RESET_1, lits(data), copy(4, 2), EOR)
    assert decompress(body) == data + data[2:6]


def test_copy_from_history_never_written_is_rejected() -> None:
    assert reason_of(assemble(RESET_1, lits(b"ab"), copy(2, 2), EOR)) == "unwritten"
    assert reason_of(assemble(RESET_1, lits(b"ab"), copy(2, 1023), EOR)) == "unwritten"


# --- scheme 2 and switching -----------------------------------------------------------------


def test_scheme_2_bytes_and_runs_of_ff() -> None:
    data = b"\xff\xff\xff\x00\xfe\xff" + bytes(range(256))
    body = assemble(RESET_2, "".join(lit2(b) for b in data), EOR)
    assert decompress(body) == data


def test_ff_then_one_bit_in_scheme_2_is_a_control_symbol() -> None:
    body = assemble(RESET_2, lit2(0x41), "11111111 1 0100")  # FF + 1 + EOR code
    assert decompress(body) == b"A"


def test_switching_schemes_keeps_the_history() -> None:
    body = assemble(
        RESET_1,
        lits(b"ab"),
        control(SCHEME_2),
        lit2(0xFF),
        lit2(ord("c")),
        control(SCHEME_1),
        copy(4, 0),  # "ab" + FF + "c" from scheme 1 and scheme 2 bytes alike
        control(SCHEME_2),
        lit2(0xFF),
        EOR,
    )
    assert decompress(body) == b"ab\xffcab\xffc\xff"


def test_reset_2_starts_in_scheme_2_and_reset_1_in_scheme_1() -> None:
    body = assemble(RESET_2, lit2(0xFF), RESET_1, lits(b"k"), EOR)
    assert decompress(body) == b"\xffk"


# --- resets ---------------------------------------------------------------------------------


def test_mid_record_reset_moves_the_write_position_back_to_0() -> None:
    # After the second Reset "d" is at location 0; the copy from 0 repeats it.
    body = assemble(RESET_1, lits(b"abc"), RESET_1, lits(b"d"), copy(2, 0), EOR)
    assert decompress(body) == b"abcddd"


def test_mid_record_reset_empties_the_history() -> None:
    body = assemble(RESET_1, lits(b"abc"), RESET_1, lits(b"d"), copy(2, 1), EOR)
    assert reason_of(body) == "unwritten"


def test_data_before_any_reset_is_rejected() -> None:
    assert reason_of(assemble(lits(b"a"), EOR)) == "before_reset"
    assert reason_of(assemble(copy(2, 0), EOR)) == "before_reset"


def test_control_symbols_before_the_first_reset_are_allowed() -> None:
    s = pad_to(control(FLUSH), 32) + control(SCHEME_2) + RESET_1 + lits(b"x") + EOR
    assert decompress(assemble(s)) == b"x"


def test_scheme_2_before_any_reset_does_not_define_the_history() -> None:
    assert reason_of(assemble(control(SCHEME_2), lit2(0x41), EOR)) == "before_reset"


# --- pads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [FLUSH, FILE_MARK])
def test_flush_and_file_mark_skip_zero_bits_to_a_32_bit_boundary(code: int) -> None:
    s = pad_to(RESET_1 + lits(b"a") + control(code), 32) + lits(b"b") + copy(2, 0) + EOR
    assert decompress(assemble(s)) == b"abab"


@pytest.mark.parametrize("code", [FLUSH, FILE_MARK])
def test_flush_and_file_mark_pads_must_be_zero(code: int) -> None:
    s = RESET_1 + lits(b"a") + control(code)
    s = s + "1" + "0" * (-(len(s) + 1) % 32)
    assert reason_of(assemble(s, lits(b"b"), EOR)) == "bad_pad"


def test_end_marker_skips_one_bits_to_a_32_bit_boundary() -> None:
    s = pad_to(RESET_1 + lits(b"a") + control(END_MARKER), 32, "1") + lits(b"b") + EOR
    assert decompress(assemble(s)) == b"ab"


def test_end_marker_pad_must_be_ones() -> None:
    s = pad_to(RESET_1 + lits(b"a") + control(END_MARKER), 32, "0") + lits(b"b") + EOR
    assert reason_of(assemble(s)) == "bad_pad"


def test_flush_pad_is_counted_from_bit_0_of_the_body() -> None:
    s = RESET_1 + control(FLUSH)  # 26 bits: the pad is 6 bits, not 32 - 13
    assert len(pad_to(s, 32)) == 32
    assert decompress(assemble(pad_to(s, 32), lits(b"z"), EOR)) == b"z"


@pytest.mark.parametrize("code", range(7, 15))
def test_reserved_control_codes_are_rejected(code: int) -> None:
    assert reason_of(assemble(RESET_1, lits(b"a"), control(code), EOR)) == "reserved"


# --- the Windows framing after End of Record ------------------------------------------------


def windows_body(data: bytes) -> bytes:
    return assemble(RESET_1, lits(data), EOR, pad=16, trailer=len(data))


def test_windows_framing_16_bit_pad_then_trailer() -> None:
    for n in range(1, 6):  # EOR ends at varied bit offsets
        data = b"abcde"[:n]
        assert decompress(windows_body(data)) == data


def test_32_bit_pad_then_trailer_and_no_trailer_at_all() -> None:
    assert decompress(assemble(RESET_1, lits(b"hi"), EOR, trailer=2)) == b"hi"
    assert decompress(assemble(RESET_1, lits(b"hi"), EOR)) == b"hi"
    assert decompress(assemble(RESET_1, lits(b"hi"), EOR, pad=16)) == b"hi"


def test_end_marker_after_the_end_of_record() -> None:
    s = pad_to(RESET_1 + lits(b"hi") + EOR, 32) + pad_to(control(END_MARKER), 32, "1")
    assert decompress(assemble(s)) == b"hi"
    assert decompress(assemble(s, trailer=2)) == b"hi"


def test_wrong_trailer_is_rejected() -> None:
    assert reason_of(assemble(RESET_1, lits(b"hi"), EOR, pad=16, trailer=3)) == "bad_trailer"


def test_decoding_stops_at_the_first_end_of_record() -> None:
    body = assemble(RESET_1, lits(b"hi"), EOR) + assemble(RESET_1, lits(b"x"), EOR)
    assert reason_of(body) == "trailing_data"


def test_non_zero_pad_after_end_of_record_is_rejected() -> None:
    bits = pad_to(RESET_1 + lits(b"hi") + EOR + "1", 16)
    assert reason_of(assemble(bits)) == "bad_pad"


@pytest.mark.parametrize("extra", [b"\0", b"\0\0\0", b"\0" * 5, b"\x01\x00", b"\0" * 9])
def test_unexpected_bytes_after_end_of_record(extra: bytes) -> None:
    body = assemble(RESET_1, lits(b"ab"), EOR, pad=16)
    assert len(body) % 4 == 2  # a 16-bit boundary that is not a 32-bit one
    assert reason_of(body + extra) == "trailing_data"


# --- truncation and non-SLDC bodies ---------------------------------------------------------


def test_every_truncation_of_a_body_is_rejected() -> None:
    body = compress(b"truncate me, truncate me " * 20, flushes=[100], switches={200: 2, 300: 1})
    assert decompress(body)
    for cut in range(len(body) - 4):  # without the trailer the record is still complete
        assert reason_of(body[:cut]) in {"truncated", "missing_eor"}


def test_empty_body_has_no_end_of_record() -> None:
    assert reason_of(b"") == "missing_eor"


@pytest.mark.parametrize(
    "plain",
    [
        "\ufeff<s:Envelope/>".encode("utf-16-le"),  # FF FE: reads as an End Marker
        "\ufeff<s:Envelope/>".encode("utf-16-be"),  # FE FF
        "\ufeff<s:Envelope/>".encode(),  # EF BB BF
        b"<s:Envelope/>",
        "<s:Envelope/>".encode("utf-16-le"),
    ],
)
def test_an_uncompressed_body_is_not_decoded_to_nothing(plain: bytes) -> None:
    with pytest.raises(SldcError):
        decompress(plain)


def test_ff_fe_followed_by_ones_still_needs_an_end_of_record() -> None:
    assert reason_of(b"\xff\xfe\xff\xff") == "bad_pad"  # bit 15 of FF FE is a 0 in the ONEs pad


# --- the output cap -------------------------------------------------------------------------


def test_default_cap_formula() -> None:
    assert default_cap(16) == 1664
    assert default_cap(512_000) == 2_048_000
    assert default_cap(1000, max_envelope_size=100) == 400


def test_output_exactly_at_the_cap_is_accepted_one_more_byte_is_not() -> None:
    body = assemble(RESET_1, lits(b"ab"), copy(271, 0), EOR)
    assert len(decompress(body, max_output=273)) == 273
    assert reason_of(body, max_output=272) == "too_large"
    assert reason_of(body, max_output=0) == "too_large"


def test_a_small_body_cannot_expand_past_four_envelopes() -> None:
    # 9000 maximal copies: ~26 KB that would expand to 2.4 MB, over 4 x 512 000 bytes.
    body = assemble(RESET_1, lit1(0), copy(271, 0) * 9000, EOR)
    assert len(body) < 30_000
    assert reason_of(body) == "too_large"
    assert len(decompress(body, max_output=10**7)) == 1 + 271 * 9000


def test_output_larger_than_the_first_buffer_grows_correctly() -> None:
    data = bytes(range(256)) * 2000  # 512 000 bytes, compressed without a size trailer
    body = compress(data, windows_framing=False)
    assert decompress(body, max_output=len(data)) == data


def in_new_thread(body: bytes, max_output: int) -> bytes:
    # A new thread has no scratch buffer yet: its first body starts from the smallest one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(decompress, body, max_output=max_output).result()


@pytest.mark.parametrize("size", [65_000, 65_536, 66_000, 140_000, 300_000])
def test_buffer_growth_in_a_fresh_thread_at_every_boundary(size: int) -> None:
    rng = random.Random(size)
    block = rng.randbytes(300)
    data = b"".join(block[rng.randrange(100) :] + rng.randbytes(3) for _ in range(size // 200))[:size]
    body = compress(data, windows_framing=False)  # no trailer: the first buffer is a guess
    assert in_new_thread(body, len(data)) == data
    assert reason_of(body, max_output=len(data) - 1) == "too_large"


def test_negative_max_output_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="max_output"):
        decompress(b"", max_output=-1)
