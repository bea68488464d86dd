# SPDX-License-Identifier: GPL-3.0-or-later
"""Events envelopes are parsed without their CDATA (wec.protocol.xml.lift_cdata): the outcome
must be exactly that of parsing the whole document, on every input.

The reference below is the whole-document parse (``lifted=None``); each test compares
``parse_message`` with it: the same message, or the same refusal (status)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol import envelopes as env
from wec.protocol import EventsBatch, Message, RemoteProtocolError, parse_message
from wec.protocol.parse import _parse_root
from wec.protocol.xml import _ILLEGAL_XML_CHARS, _has_illegal_chars, lift_cdata, parse_xml

FUZZ = settings(
    max_examples=int(os.environ.get("WEC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _whole(text: str) -> Message | int:
    try:
        return _parse_root(parse_xml(text), max_events=50, require_version=True, lifted=None)
    except RemoteProtocolError as err:
        return err.status


def _fast(text: str) -> Message | int:
    try:
        return parse_message(text, max_events=50)
    except RemoteProtocolError as err:
        return err.status


def _same(text: str) -> Message | int:
    whole = _whole(text)
    assert _fast(text) == whole
    return whole


EVENTS = [env.event_xml(n) for n in (1, 2, 3)]
PLAIN = env.events_message(EVENTS)
OPEN_EVENT = '<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event">'


def test_an_ordinary_batch_is_lifted_and_gives_the_events_verbatim() -> None:
    lifted = lift_cdata(PLAIN, 50)
    assert lifted is not None and lifted.contents == EVENTS
    assert "<Event " not in lifted.skeleton  # libxml2 sees none of the events
    message = _same(PLAIN)
    assert isinstance(message, EventsBatch) and list(message.events) == EVENTS


@pytest.mark.parametrize(
    "edit",
    [
        # A CDATA look-alike in a comment, before and between the events.
        lambda t: t.replace("<s:Body>", "<s:Body><!-- <![CDATA[ not an event ]]> -->"),
        lambda t: t.replace("<s:Body>", "<s:Body><!-- <![CDATA[ -->"),
        # ... in a processing instruction.
        lambda t: t.replace("<s:Body>", "<s:Body><?pi <![CDATA[ ?>"),
        # A header value written as CDATA (valid XML: the action must still be read).
        lambda t: t.replace(
            '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events',
            '<a:Action s:mustUnderstand="true"><![CDATA[http://schemas.dmtf.org/wbem/wsman/1/wsman/Events]]>',
        ),
        # Two sections, or text and a section, in one event: one payload, concatenated.
        lambda t: t.replace("]]></w:Event>", "]]><![CDATA[<!-- tail -->]]></w:Event>", 1),
        lambda t: t.replace(f"{OPEN_EVENT}<![CDATA[", f"{OPEN_EVENT}lead<![CDATA[", 1),
        # An event without CDATA beside ones with it; an empty section.
        lambda t: t.replace("</w:Events>", f"{OPEN_EVENT}&lt;Event/&gt;</w:Events>"),
        lambda t: t.replace("</w:Events>", f"{OPEN_EVENT}<![CDATA[]]></w:Events>"),
        # CR LF and lone CR inside a section: reported as LF, like libxml2 does.
        lambda t: t.replace("<Data", '<Data\r\nName="x" \r', 1),
        # Unterminated section; "]]>" in plain text; a DOCTYPE hidden behind a look-alike.
        lambda t: t.replace("]]></w:Event>", "</w:Event>", 1),
        lambda t: t.replace("</w:Events>", "]]></w:Events>"),
        lambda t: "<!-- <![CDATA[ --><!DOCTYPE x [<!ENTITY a 'b'>]>" + t + "]]>",
        # Characters XML forbids inside an event: the whole parse and its §3.8 fallback.
        lambda t: t.replace("<Data", "<Data\x05", 1),
        lambda t: t.replace("<Data", "<Data\ufffe", 1),
        # A section outside the body's w:Events; a second w:Events; an event element
        # holding an element; sections nested in a section's text.
        lambda t: t.replace("<s:Body>", "<s:Body><x><![CDATA[aside]]></x>"),
        lambda t: t.replace("</s:Body>", "<w:Events><w:Event><![CDATA[x]]></w:Event></w:Events></s:Body>"),
        lambda t: t.replace("]]></w:Event>", "]]><w:Event/></w:Event>", 1),
        lambda t: t.replace("<Data", "<![CDATA[<Data", 1),
    ],
)
def test_edited_batches_read_as_the_whole_parse_reads_them(edit: object) -> None:
    assert callable(edit)
    text = edit(PLAIN)
    assert text != PLAIN
    _same(text)


def test_a_marker_written_by_the_peer_is_not_taken_for_an_event() -> None:
    # The peer cannot know the nonce; guessing its shape changes nothing.
    lifted = lift_cdata(PLAIN, 50)
    assert lifted is not None
    forged = PLAIN.replace("</w:Events>", f"{OPEN_EVENT}{next(iter(lifted.markers))}</w:Event></w:Events>")
    message = _same(forged)
    assert isinstance(message, EventsBatch) and len(message.events) == 4


def test_too_many_events_is_still_413() -> None:
    assert _same(env.events_message([env.event_xml(n) for n in range(51)])) == 413


def test_messages_without_cdata_are_not_lifted() -> None:
    for text in env.all_valid_messages():
        if "<![CDATA[" not in text:
            assert lift_cdata(text, 50) is None
        _same(text)


@FUZZ
@given(st.text(max_size=300))
def test_the_illegal_character_check_agrees_with_the_regex(text: str) -> None:
    assert _has_illegal_chars(text) == (_ILLEGAL_XML_CHARS.search(text) is not None)


_PIECES = st.sampled_from(
    [
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<?p ",
        "?>",
        "<x>",
        "</x>",
        OPEN_EVENT,
        "</w:Event>",
        "\r\n",
        "\r",
        "a",
    ]
)


@FUZZ
@given(st.data())
def test_mutated_batches_read_as_the_whole_parse_reads_them(data: st.DataObject) -> None:
    text = PLAIN
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        where = data.draw(st.integers(min_value=0, max_value=len(text)))
        piece = data.draw(st.one_of(_PIECES, st.text(max_size=6)))
        cut = data.draw(st.integers(min_value=0, max_value=3))
        text = text[:where] + piece + text[where + cut :]
    _same(text)


def test_a_run_of_brackets_is_searched_in_c_not_per_character() -> None:
    # One section with 200 000 lone "]" (and a tail): bounded work, the right content.
    content = "]" * 200_000 + "<x/>"
    lifted = lift_cdata(env.events_message([content]), 50)
    assert lifted is not None and lifted.contents == [content]


def test_more_sections_than_events_allowed_are_left_to_the_whole_parse() -> None:
    text = env.events_message([env.event_xml(n) for n in range(60)])
    assert lift_cdata(text, 50) is None
    assert _same(text) == 413


MANY = env.events_message([env.event_xml(n) for n in range(1, 8)])


def test_identical_event_wrappers_collapse_to_one_element_in_the_skeleton() -> None:
    lifted = lift_cdata(MANY, 50)
    assert lifted is not None and lifted.collapsed
    assert lifted.skeleton.count("<w:Event ") == 1 and len(lifted.markers) == 1
    message = _same(MANY)
    assert isinstance(message, EventsBatch) and len(message.events) == 7
    assert lift_cdata(PLAIN.replace(EVENTS[1], "").replace(EVENTS[2], ""), 50) is not None  # 1 event


def _last_event_opened(text: str, start_tag: str) -> str:
    i = text.rfind(OPEN_EVENT)
    return text[:i] + start_tag + text[i + len(OPEN_EVENT) :]


@pytest.mark.parametrize(
    "edit",
    [
        # Anything between two events but the end and start tags: one marker per section.
        lambda t: t.replace("]]></w:Event><w:Event", "]]></w:Event>\r\n<w:Event", 1),
        lambda t: t.replace("]]></w:Event><w:Event", "]]></w:Event><!-- c --><w:Event", 1),
        lambda t: t.replace("]]></w:Event><w:Event", "]]></w:Event ><w:Event", 1),
        lambda t: t.replace("]]></w:Event><w:Event", "]]></w:Event><w:Other/><w:Event", 1),
        # One event written differently: another Action, another attribute, another prefix.
        lambda t: t.replace(OPEN_EVENT, OPEN_EVENT.replace("/Event", "/Other"), 1),
        lambda t: _last_event_opened(t, OPEN_EVENT.replace("w:Event", "w:Event x='1'")),
        lambda t: _last_event_opened(
            t, "<v:Event xmlns:v='http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd' Action='a'>"
        ).replace("]]></w:Event></w:Events>", "]]></v:Event></w:Events>"),
        # A section in the header before the events.
        lambda t: t.replace("<w:Bookmark>", "<w:Bookmark><![CDATA[]]>"),
    ],
)
def test_batches_whose_event_wrappers_differ_are_not_collapsed(edit: object) -> None:
    assert callable(edit)
    text = edit(MANY)
    assert text != MANY
    lifted = lift_cdata(text, 50)
    assert lifted is None or not lifted.collapsed
    _same(text)


@pytest.mark.parametrize(
    "edit",
    [
        # The same wrappers everywhere, but not w:Event, or not well-formed: the skeleton's
        # parse decides for all of them, as the whole parse would.
        lambda t: t.replace(OPEN_EVENT, "<w:Other>").replace("</w:Event>", "</w:Other>"),
        lambda t: t.replace(OPEN_EVENT, OPEN_EVENT.replace(">", ' Action="x">')),
        lambda t: t.replace("</w:Event>", "</w:Evnt>"),
        lambda t: t.replace(OPEN_EVENT, "<w:Event>").replace("</w:Event>", "</w:Event>"),
        lambda t: t.replace(OPEN_EVENT, "<Event xmlns='urn:other'>").replace("</w:Event>", "</Event>"),
    ],
)
def test_batches_with_the_same_odd_wrappers_read_as_the_whole_parse(edit: object) -> None:
    assert callable(edit)
    text = edit(MANY)
    assert text != MANY
    lifted = lift_cdata(text, 50)
    assert lifted is not None and lifted.collapsed
    _same(text)
