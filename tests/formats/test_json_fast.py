# SPDX-License-Identifier: GPL-3.0-or-later
"""The Json fast path (``wec.formats.json_fast``) against the general path (``parse_event`` +
``JsonFormat``): byte-identical records on every event it accepts, and it declines (None)
every event the general path would mark with an error."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.formats.factory import META, event_xml, generated_events, system_xml
from tests.support.vectors import vectors_dir
from wec.formats import format_batch, get_format
from wec.formats.event_xml import parse_event
from wec.formats.json_fast import json_record

JSON = get_format("Json")


def _general(raw: str) -> bytes | None:
    return JSON.format(raw, parse_event(raw), META)


def _vector_events() -> list[str]:
    base = vectors_dir()
    if base is None:
        return []
    events: list[str] = []
    for name in ("evtx-attack-samples.jsonl.gz", "evtx-attack-samples.illformed.jsonl.gz"):
        path = base / "corpus" / name
        if path.exists():
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                events += [json.loads(line)["xml"] for line in fh]
    golden = base / "formats"
    if golden.is_dir():
        events += [p.read_text(encoding="utf-8") for p in sorted(golden.rglob("*.xml"))]
    return events


_TRICKY = [
    event_xml(system=system_xml(record_id="+12")),  # a number the general parser accepts
    event_xml(system=system_xml(record_id="99999999999999999999999")),  # too large: omitted
    event_xml(system=system_xml(event_id="<EventID Qualifiers='16384'>7036</EventID>")),
    event_xml(system=system_xml(event_id="<EventID>x</EventID>")),  # required and bad: error
    event_xml(system="<System><Computer>a</Computer><EventID>1</EventID></System>"),  # no Provider
    event_xml(system="<System><EventID>1</EventID></System>"),  # no Computer: error
    event_xml(body="<EventData><Data Name='Data'>n</Data><Data>u</Data><Binary></Binary></EventData>"),
    event_xml(body="<BinaryEventData>00ff</BinaryEventData>"),
    event_xml(body="<DebugData><Component>c</Component><Message>m</Message></DebugData>"),
    event_xml(body="<ProcessingErrorData><ErrorCode>x</ErrorCode></ProcessingErrorData>"),
    event_xml(body="<UserData><A xmlns='urn:a'>t</A></UserData>"),
    "<!DOCTYPE Event><Event/>",
    "<Event xmlns='http://",
    "<Event>\ud800</Event>",
    "<x/>",
]


@pytest.mark.parametrize("raw", _TRICKY + generated_events(40))
def test_same_bytes_as_the_general_path_or_declined(raw: str) -> None:
    general = _general(raw)
    fast = json_record(raw, META)
    if fast is None:
        return
    assert parse_event(raw).error is None  # an event with an error is always declined
    assert fast == general


def test_errors_are_declined() -> None:
    for raw in _TRICKY + generated_events(40):
        if parse_event(raw).error is not None:
            assert json_record(raw, META) is None, raw


def test_every_vector_event_gives_the_same_json_record() -> None:
    events = _vector_events()
    if not events:
        pytest.skip("the shared vectors are not available")
    result = format_batch(events, META, [JSON])
    assert result.records["Json"] == [_general(r) for r in events]
    assert result.parsed == []  # the fast path builds no typed records
    accepted = sum(json_record(r, META) is not None for r in events)
    assert accepted > len(events) // 2  # the fast path really serves the common case


def test_a_batch_with_json_and_raw_is_unchanged() -> None:
    events = generated_events(20)
    result = format_batch(events, META, [JSON, get_format("Raw")])
    assert result.records["Json"] == [_general(r) for r in events]
    assert result.records["Raw"] == [r.encode() for r in events]
