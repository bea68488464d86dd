# SPDX-License-Identifier: GPL-3.0-or-later
"""The Json fast path's reading of a whole event from its text, without parsing it
(``wec.formats.json_fast._document_from_text``): only for events written entirely the Windows
way (a canonical System, EventData, and RenderingInfo or not), and then the very record of the
lxml path; anything else, and anything lxml would refuse, is left to it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.formats.factory import META, event_xml, generated_events
from tests.formats.test_json_canonical_system import _sim_events, mutate
from tests.formats.test_json_fast import _general, _vector_events
from wec.formats import json_fast
from wec.formats.json_fast import _document, _document_from_text, json_record
from wec.xmlparser import hardened_parser


def _parsed(raw: str) -> etree._Element | None:
    try:
        return etree.fromstring(raw.encode(), hardened_parser())
    except (etree.LxmlError, ValueError, UnicodeEncodeError):
        return None


def _check(raw: str) -> bool:
    """Whether ``raw`` was read from its text; the record is the general path's either way,
    and a text lxml refuses is never read."""
    read = _document_from_text(raw)
    root = _parsed(raw)
    if root is None:
        assert read is None, raw
        assert json_record(raw, META) is None, raw
        return False
    if read is not None:
        walked = _document(root, raw)
        assert read == walked, raw
        assert list(read) == list(walked), raw  # key order, at every level
        assert list(read["EventData"]) == list(walked["EventData"]), raw
        if "RenderingInfo" in read:
            assert list(read["RenderingInfo"]) == list(walked["RenderingInfo"]), raw
    fast = json_record(raw, META)
    if fast is not None:
        assert fast == _general(raw), raw
    return read is not None


def _event(data: str) -> str:
    return event_xml(body=f"<EventData>{data}</EventData>", rendering=None)


def test_events_written_the_windows_way_are_read_without_a_parse() -> None:
    events = _sim_events(80)  # every other one with RenderingInfo
    assert sum(_check(raw) for raw in events) >= len(events) * 3 // 4
    assert sum(_check(raw) for raw in events if "<RenderingInfo" in raw) >= len(events) // 3


def _rendered(rendering: str, data: str = "<Data Name='A'>x</Data>") -> str:
    return event_xml(body=f"<EventData>{data}</EventData>", rendering=rendering)


@pytest.mark.parametrize(
    "rendering",
    [
        "<RenderingInfo Culture='en-US'><Message>A line&#13;&#10;next&#9;tab &amp;#13; &lt;x&gt;</Message>"
        "<Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>Security</Channel>"
        "<Provider>P</Provider><Keywords><Keyword>Audit Success</Keyword><Keyword>K2</Keyword></Keywords>"
        "</RenderingInfo>",
        "<RenderingInfo Culture='fr-FR'><Message>m</Message><Level></Level><Task/><Opcode>  </Opcode>"
        "<Keywords/></RenderingInfo>",
        "<RenderingInfo><Message>&#xD;&#xA;&#x9;</Message><Keywords><Keyword/><Keyword></Keyword>"
        "<Keyword> </Keyword><Keyword>k</Keyword></Keywords></RenderingInfo>",
        "<RenderingInfo Culture=''></RenderingInfo>",
        "<RenderingInfo Culture='en-US'><Channel>Application</Channel><Keywords></Keywords></RenderingInfo>",
    ],
)
def test_rendering_info_read_from_the_text_is_that_of_the_walk(rendering: str) -> None:
    assert _check(_rendered(rendering))


@pytest.mark.parametrize(
    "rendering",
    [
        "<RenderingInfo Culture='en-US'><Level>L</Level><Message>m</Message></RenderingInfo>",  # order
        "<RenderingInfo Culture='en-US'><Message>a</Message><Message>b</Message></RenderingInfo>",
        "<RenderingInfo Culture='en-US'><Message>&#65;</Message></RenderingInfo>",
        '<RenderingInfo Culture="en-US"><Message>m</Message></RenderingInfo>',
        "<RenderingInfo Culture='en-US' Other='1'><Message>m</Message></RenderingInfo>",
        "<RenderingInfo Culture='en-US'><Message>m</Message><Extra/></RenderingInfo>",
        "<RenderingInfo Culture='en-US'><Keywords><Keyword>a</Keyword> </Keywords></RenderingInfo>",
    ],
)
def test_other_rendering_shapes_are_left_to_the_parse(rendering: str) -> None:
    raw = _rendered(rendering)
    assert _document_from_text(raw) is None
    _check(raw)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "<Data Name='A'>1</Data><Data Name='B'>two words</Data>",
        "<Data Name='A'/><Data Name='B'></Data><Data Name=''>empty name</Data>",
        "<Data>unnamed</Data><Data></Data><Data/><Data Name='k'>v</Data><Data>second</Data>",
        "<Data Name='K'>first</Data><Data Name='K'>last</Data>",
        "<Data Name='C'>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &amp;lt;</Data>",
        "<Data Name='D'>[x] a]b a]]b ]</Data>",
        "<Data Name='E'>a/&gt;b a/>b</Data>",
        "<Data Name='F'>line\nnext\ttab é€😀</Data>",
        "<Data Name='CR'>a\r\nb\rc\r\r\nd &#13;&#10;e</Data><Data>x\r</Data>",
        "<Data Name='G'>x</Data><Binary>0A0B</Binary>",
        "<Data Name='G'>x</Data><Binary></Binary>",
        "<Binary>AA&amp;</Binary>",
        "<Data Name='a&gt;b'>x</Data>",  # not read (an entity in a name): the walk
    ],
)
def test_data_shapes_read_from_the_text_are_those_of_the_walk(data: str) -> None:
    raw = _event(data)
    read = _check(raw)
    assert read == ("&gt;b'" not in data)


@pytest.mark.parametrize(
    "raw",
    [
        _event("<Data Name='A'>&#49;</Data>"),  # a character reference
        _event("<Data Name='A'><![CDATA[x]]></Data>"),
        _event("<Data Name='A'>x<!-- c --></Data>"),
        _event("<Data Name='A'>x</Data> <Data Name='B'>y</Data>"),
        _event('<Data Name="A">x</Data>'),
        _event("<Binary>00</Binary><Data Name='A'>x</Data>"),
        event_xml(body="<EventData Name='S'><Data Name='A'>x</Data></EventData>", rendering=None),
        event_xml(body="<UserData><X xmlns='urn:x'>1</X></UserData>", rendering=None),
        _event("<Data Name='A'>x</Data>") + " ",
        # Past the reader's bounds (where the parse is cheaper, and libxml2's limits apply).
        _event(f"<Data Name='A'>{'x' * json_fast._READER_MAX_CHARS}</Data>"),
        _event(f"<Data Name='A'>{'x' * 4000}</Data>"),  # long text, few tags
        _event(f"<Data Name='A'>{'&amp;' * (json_fast._READER_MAX_REFERENCES + 1)}</Data>"),
        _event("<Data Name='a]]>b'>x</Data>"),  # legal in an attribute, but declined with the rest
        _event("<Data Name='A'>x</Data>") + "<!-- after -->",
    ],
)
def test_other_shapes_are_left_to_the_parse(raw: str) -> None:
    assert _document_from_text(raw) is None
    _check(raw)


@pytest.mark.parametrize(
    "raw",
    [
        _event("<Data Name='A'>a]]>b</Data>"),  # "]]>" may not appear in text
        _event("<Data Name='A'>a\x01b</Data>"),  # a character XML forbids
        _event("<Data Name='A'>a\ud800b</Data>"),  # a lone surrogate
        _event("<Data Name='A'>a &bogus; b</Data>"),
        _event("<Data Name='A'>x</Data>").replace("</Event>", "</Event></Event>"),
        _event("<Data Name='A'>x</Data>").replace("</EventData>", "</Eventdata>"),
    ],
)
def test_ill_formed_events_are_never_read_from_their_text(raw: str) -> None:
    assert _parsed(raw) is None
    assert _document_from_text(raw) is None
    assert json_record(raw, META) is None


def test_generated_and_vector_events_give_the_general_record() -> None:
    for raw in generated_events(80) + _vector_events():
        _check(raw)


def test_without_the_text_reader_the_records_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _sim_events(40)
    fast = [json_record(raw, META) for raw in events]
    monkeypatch.setattr(json_fast, "_document_from_text", lambda raw: None)
    assert [json_record(raw, META) for raw in events] == fast


_ALPHABET = st.sampled_from(
    [*"<>/='\"&;#x \t\r\n0123456789aZ]-é\x01", "Data", "Name", "]]>", "&amp;", "&#49;", "/>", "</Data>"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(_sim_events(16)),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2000), st.integers(0, 3), _ALPHABET), max_size=4
    ),
)
def test_mutated_events_give_the_general_paths_record_or_none(
    base: str, edits: list[tuple[int, int, str]]
) -> None:
    # Anywhere in the event, EventData included: read from the text only if lxml would accept
    # the text too, and then with the record the parse gives.
    _check(mutate(base, edits))
