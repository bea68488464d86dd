# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzzing the parsers that read what peers send (tests/fuzz/targets.py says what each must
do): random bytes, and valid inputs mutated (bits flipped, bytes inserted, deleted, repeated,
cut, spliced with another seed), which reach deep into each parser.

A failure prints its input; add it to tests/fuzz/test_regressions.py with the fix.
"""

from __future__ import annotations

import functools
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import CONTENT_TYPES, TARGETS, seeds, watchdog

FUZZ = settings(parent=settings.get_profile("wec-fuzz"))
NAMES = sorted(TARGETS)
MAX_RANDOM = 2048  # bytes of random input


@functools.cache
def _seeds(name: str) -> tuple[bytes, ...]:
    return tuple(seeds(name))


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    pool = _seeds(name)
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "repeat", "cut", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0, 0x0A, 0x0D, 0x20, 0x22, 0x27, 0x3C, 0x3E, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 32))]
        elif kind == "repeat":
            chunk = data[at : at + draw(st.integers(1, 64))]
            data[at:at] = chunk * draw(st.integers(1, 8))
        elif kind == "cut":
            del data[at:]
        elif kind == "splice":
            other = draw(st.sampled_from(pool))
            data[at:] = other[draw(st.integers(0, max(len(other) - 1, 0))) :]
    return bytes(data)


def test_every_seed_is_accepted() -> None:
    """The seeds are valid inputs: a mutation test that only ever sees errors would test little."""
    from accel.sldc import decompress
    from wec.auth.multipart import parse_encrypted
    from wec.protocol import parse_message
    from wec.transport.proxy import read_proxy_header

    for text in _seeds("envelope"):
        parse_message(text.decode("utf-8"))
    for body in _seeds("sldc"):
        decompress(body)
    for data in _seeds("multipart"):
        if data[0] % 2 == 0:
            parse_encrypted(CONTENT_TYPES[(data[0] // 2) % 2], data[1:])
        else:
            head, _, body = data[1:].partition(b"\x00")
            parse_encrypted(head.decode("latin-1"), body)
    for stream in _seeds("proxy"):
        read_proxy_header(io.BytesIO(stream[1:]))
    for name in NAMES:
        for data in _seeds(name):
            with watchdog():
                TARGETS[name](data)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_random_bytes(name: str, data: st.DataObject) -> None:
    payload = data.draw(st.binary(max_size=MAX_RANDOM), label="input")
    with watchdog():
        TARGETS[name](payload)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(data=st.data())
def test_mutated_valid_inputs(name: str, data: st.DataObject) -> None:
    payload = data.draw(mutated(name), label="input")
    with watchdog():
        TARGETS[name](payload)


# Values a hostile or broken source may put in a field: numbers out of every range, other
# digits, markup, references, control characters as references, huge and empty values.
HOSTILE = st.sampled_from(
    [
        "", " ", "-1", "+7", "0x1F", "18446744073709551615", "18446744073709551616", "9" * 30,
        "١٢٣", "1e5", "4624 ", "&#x1F600;", "&#1;", "&amp;&lt;", "<![CDATA[<x>]]>", "\t\n",
        "2025-02-30T25:61:61.9999999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999-14:00",
        "{not-a-guid}", "S-1-5-18", "x" * 3000, "é中🔐", "<b/>", "]]>",
    ]
)  # fmt: skip


@st.composite
def hostile_event(draw: st.DrawFn) -> bytes:
    from tests.formats.factory import event_xml, rendering_xml, system_xml

    def value() -> str | None:
        return draw(st.none() | HOSTILE | st.text(max_size=12))

    def escaped(text: str | None) -> str | None:
        # Arbitrary text must stay well-formed enough to reach the field readers.
        return None if text is None else text.replace("&", "&amp;").replace("<", "&lt;")

    system = system_xml(
        event_id=f"<EventID Qualifiers='{escaped(value()) or ''}'>{value() or ''}</EventID>",
        version=value(),
        level=value(),
        task=value(),
        opcode=value(),
        keywords=value(),
        time_created=f"<TimeCreated SystemTime='{escaped(value()) or ''}'/>",
        record_id=value(),
        execution=f"<Execution ProcessID='{escaped(value()) or ''}' ThreadID='{escaped(value()) or ''}'/>",
        channel=value(),
        computer=value(),
        container=value(),
    )
    body = draw(
        st.sampled_from(
            [
                "<EventData><Data Name='a'>{v}</Data><Data>{v}</Data><Binary>{v}</Binary></EventData>",
                "<UserData><x xmlns='urn:x'><y>{v}</y></x></UserData>",
                "<ProcessingErrorData><ErrorCode>{v}</ErrorCode><DataItemName>{v}</DataItemName>"
                "<EventPayload>{v}</EventPayload></ProcessingErrorData>",
                "<DebugData><SequenceNumber>{v}</SequenceNumber><FlagsName>{v}</FlagsName></DebugData>",
                "<BinaryEventData>{v}</BinaryEventData>",
            ]
        )
    ).format(v=value() or "")
    rendering = rendering_xml(message=value(), level=value(), keywords=(value() or "",))
    text = event_xml(system=system, body=body, rendering=draw(st.sampled_from([rendering, None])))
    if draw(st.booleans()):  # Windows sometimes cuts the rendered message short
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("utf-8")


@FUZZ
@given(data=st.data())
def test_events_with_hostile_field_values(data: st.DataObject) -> None:
    payload = data.draw(hostile_event(), label="event")
    with watchdog():
        TARGETS["event"](payload)
