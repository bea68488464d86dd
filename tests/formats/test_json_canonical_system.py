# SPDX-License-Identifier: GPL-3.0-or-later
"""The Json fast path's reading of a canonical System element from the event's text
(``wec.formats.json_fast._system_from_text``) against the lxml walk (``_system``): the same
fields in the same order whenever it reads one, and the same Json record either way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.formats.factory import META, event_xml, generated_events, system_xml
from tests.formats.test_json_fast import _general, _vector_events
from wec.formats.event_xml import parse_event
from wec.formats.json_fast import _GiveUp, _name, _system, _system_from_text, json_record
from wec.sim.events import EVENT_KINDS, LogEntry, render_event
from wec.xmlparser import hardened_parser

_BASE_TIME = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def _sim_events(n: int) -> list[str]:
    """Events as wec's simulator writes them, which is how Windows writes them."""
    kinds = sorted(EVENT_KINDS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        entry = LogEntry(index=i, kind=kind, channel=EVENT_KINDS[kind], record_id=1000 + i)
        out.append(render_event(entry, f"ws{i % 7:03d}.corp.example", _BASE_TIME, rendered=i % 2 == 0))
    return out


def mutate(base: str, edits: list[tuple[int, int, str]]) -> str:
    """``base`` with each edit applied: at ``pos`` (clamped), ``cut`` characters replaced by ``text``."""
    raw = base
    for pos, cut, text in edits:
        pos = min(pos, len(raw))
        raw = raw[:pos] + text + raw[pos + cut :]
    return raw


def _walked(raw: str, *, first: bool = False) -> dict[str, object] | str:
    """The walk of the root's last System child (what the Json record uses), or of its first
    child (what the text reader reads)."""
    root = etree.fromstring(raw.encode(), hardened_parser())
    element = root[0] if first else [c for c in root if _name(c.tag) == "System"][-1]
    try:
        return _system(element)
    except _GiveUp:
        return "gives up"


def _agree(raw: str) -> bool:
    """Whether the text reader read ``raw``; when it did, it must equal the walk."""
    read = _system_from_text(raw)
    if read is None:
        return False
    walked = _walked(raw, first=True)
    assert read == walked, raw
    assert list(read) == list(walked), raw  # the Json key order too
    return True


def test_events_written_the_windows_way_are_read_from_their_text() -> None:
    events = [
        *_sim_events(60),
        event_xml(),
        event_xml(system=system_xml(container="c1", security="<Security UserID='S-1-5-18'/>")),
        event_xml(system=system_xml(event_id="<EventID Qualifiers='16384'>7036</EventID>")),
        event_xml(
            system=system_xml(
                provider="<Provider Name='P' Guid='{1}' EventSourceName='Src'/>",
                correlation="<Correlation ActivityID='{a}' RelatedActivityID='{b}'/>",
                execution=(
                    "<Execution ProcessID='4' ThreadID='8' ProcessorID='1' SessionID='2' "
                    "KernelTime='3' UserTime='4' ProcessorTime='5'/>"
                ),
            )
        ),
        event_xml(system=system_xml(version="", keywords="", record_id="+12", channel="")),
        event_xml(system=system_xml(record_id="99999999999999999999999", computer="wé€😀.example")),
    ]
    assert all(_agree(raw) for raw in events)
    for raw in events:
        assert json_record(raw, META) == _general(raw)


# Shapes the text reader must leave to the walk.
_DECLINED = [
    # Not the canonical shape: the walk reads these.
    event_xml().replace("'", '"'),
    event_xml().replace("<System>", "<System>\n  "),
    event_xml(system=system_xml(computer="a&amp;b")),
    event_xml(system=system_xml(record_id="&#49;2")),
    event_xml(system=system_xml(channel="Sec\r\nurity")),
    event_xml(system=system_xml(channel="Sec\rurity")),
    event_xml(system=system_xml(provider="<Provider Name='a\tb'/>")),
    event_xml(system=system_xml(extra="<!-- a comment -->")),
    event_xml(system=system_xml(computer="<![CDATA[ws042]]>")),
    event_xml(system=system_xml(execution="<Execution ThreadID='3304' ProcessID='812'/>")),
    event_xml(system=system_xml(version=None)),
    event_xml(system=system_xml(security="<Security></Security>")),
    event_xml().replace("<Event xmlns=", "<Event  xmlns="),
    "<?xml version='1.0'?>" + event_xml(),
    # Canonical, but the walk would give up on its own: the text reader declines as well.
    event_xml(system=system_xml(execution="<Execution ProcessID='x' ThreadID='1'/>")),
    event_xml(system=system_xml(event_id="<EventID>x</EventID>")),
    event_xml(system=system_xml(computer="")),
    event_xml(system=system_xml(computer="  ")),
]
# Read from the text, then overridden: the walk keeps the root's last System.
_OVERRIDDEN = [
    event_xml(body="<System><EventID>7</EventID><Computer>other</Computer></System>"),
    event_xml(body="<s:System xmlns:s='urn:x'><EventID>7</EventID><Computer>o</Computer></s:System>"),
]


@pytest.mark.parametrize("raw", _DECLINED + _OVERRIDDEN)
def test_other_shapes_give_the_same_record_as_the_general_path(raw: str) -> None:
    read = _system_from_text(raw)
    if read is not None:
        _agree(raw)
    fast = json_record(raw, META)
    if fast is not None:
        assert parse_event(raw).error is None
        assert fast == _general(raw)
    else:
        assert parse_event(raw).error is not None or _walked(raw) == "gives up"


@pytest.mark.parametrize("raw", _DECLINED)
def test_the_text_reader_declines_what_it_cannot_read_exactly(raw: str) -> None:
    assert _system_from_text(raw) is None


def test_generated_and_vector_events_agree_with_the_walk() -> None:
    events = generated_events(80) + _vector_events()
    read = 0
    for raw in events:
        try:
            etree.fromstring(raw.encode(), hardened_parser())
        except (etree.LxmlError, ValueError):
            continue  # not well-formed: the fast path never gets that far
        read += _agree(raw)
    assert read > 0


_ALPHABET = st.sampled_from([*"<>/='\"&;#x \t\r\n0123456789aZ{}-:é", "System", "EventID", "]]>"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(_sim_events(8)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=700), st.integers(0, 3), _ALPHABET), max_size=4
    ),
)
def test_mutated_canonical_events_give_the_general_paths_record(
    base: str, edits: list[tuple[int, int, str]]
) -> None:
    # Mutations aimed at the System element (its first ~700 characters): whatever the text
    # reader makes of them, the record is the general path's, or the fast path declines.
    raw = mutate(base, edits)
    try:
        etree.fromstring(raw.encode(), hardened_parser())
    except (etree.LxmlError, ValueError):
        return
    if _system_from_text(raw) is not None:
        _agree(raw)
    fast = json_record(raw, META)
    if fast is not None:
        assert fast == _general(raw)
