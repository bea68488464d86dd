# SPDX-License-Identifier: GPL-3.0-or-later
"""A source cannot forge syslog messages through an event's text (Tcp output, ``syslog`` with
``framing = "lf"``, Raw format): a line break inside an event would end the message and start
one of the source's making, so line breaks are written as XML character references."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.outputs.records import Event, batch, raw_record
from tests.outputs.sinks import StreamSink
from tests.support.receivers import Rsyslog
from wec.outputs.context import DriverContext
from wec.outputs.syslog import one_line
from wec.outputs.tcp import TcpDriver

FORGED = "<165>1 2025-03-04T10:15:21Z dc01.corp.example Microsoft-Windows-Security-Auditing - 4624 - forged"
# An event whose rendered message (text the source controls) holds whole RFC 5424 lines; in
# a CDATA section "<" needs no escaping, so the line can start with a real PRI.
EVIL = Event(record_id=7, message=f"innocent<![CDATA[\n{FORGED}\n{FORGED}\n]]>end")


@pytest.fixture
def sink() -> Iterator[StreamSink]:
    s = StreamSink()
    try:
        yield s
    finally:
        s.close()


def lf_syslog(context: DriverContext, port: int) -> TcpDriver:
    return TcpDriver.from_config(
        {"host": "127.0.0.1", "port": port, "framing": "lf", "syslog": {"rfc": "5424"}}, context=context
    )


def test_rsyslog_receives_one_message_per_event_and_no_forged_one(
    rsyslog: Rsyslog, context: DriverContext
) -> None:
    d = lf_syslog(context, rsyslog.port)
    try:
        d.write(batch([raw_record(Event(record_id=6)), raw_record(EVIL), raw_record(Event(record_id=8))]))
    finally:
        d.close()
    got = rsyslog.wait_for(3)
    rsyslog.wait_for(4, timeout=1.0)  # anything more that arrives would be a forged message
    got = rsyslog.messages()
    assert len(got) == 3
    assert all(m["host"] == "ws042.corp.example" for m in got)
    assert "dc01.corp.example" not in {m["host"] for m in got}
    # The event is whole, and reads back as the same XML: the references are line breaks again.
    evil = got[1]["msg"]
    assert FORGED in evil
    text = ElementTree.fromstring(evil).findtext(".//{*}Message")
    assert text == f"innocent\n{FORGED}\n{FORGED}\nend"


def test_the_stream_holds_exactly_one_line_per_event(sink: StreamSink, context: DriverContext) -> None:
    d = lf_syslog(context, sink.port)
    try:
        d.write(batch([raw_record(EVIL), raw_record(EVIL)]))
    finally:
        d.close()
    data = sink.wait_for(1)
    data = sink.wait_for(len(data) + 1, timeout=1.0)  # the whole batch (one sendall)
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    assert all(
        line.startswith(b"<14>1 2025-03-04T10:15:21.907123Z ws042.corp.example ") for line in lines[:2]
    )
    assert b"\r" not in data


def test_octet_counting_keeps_events_unchanged(sink: StreamSink, context: DriverContext) -> None:
    """Counted frames cannot be forged into: the event is sent as it is."""
    d = TcpDriver.from_config(
        {"host": "127.0.0.1", "port": sink.port, "syslog": {"rfc": "5424"}}, context=context
    )
    record = raw_record(EVIL)
    try:
        d.write(batch([record]))
    finally:
        d.close()
    assert record in sink.wait_for(len(record))


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"<a>x</a>", b"<a>x</a>"),
        (b"<a>x\ny</a>", b"<a>x&#10;y</a>"),
        (b"<a>x\r\ny\r</a>", b"<a>x&#10;y&#10;</a>"),
        (b"<a>x<![CDATA[1\n<2>]]>y</a>", b"<a>x<![CDATA[1]]>&#10;<![CDATA[<2>]]>y</a>"),
        (b"<a\nb='1\n2'\r\nc=\"3>\n\">x</a>", b"<a b='1 2' c=\"3> \">x</a>"),
        (b"<a><!--\n--></a>", b"<a><!-- --></a>"),
        (b"<a><![CDATA[\n", b"<a><![CDATA[&#10;"),  # unterminated: still one line
        (b'{"a":"b"}', b'{"a":"b"}'),
    ],
)
def test_one_line(record: bytes, expected: bytes) -> None:
    assert one_line(record) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["x", "\n", "\r", "\r\n", "<a b='", "'>", "<![CDATA[", "]]>", "<!--", "-->", "</a>", '"']
        )
    )
)
def test_one_line_never_leaves_a_line_break(parts: list[str]) -> None:
    assert not set(one_line("".join(parts).encode())) & {0x0A, 0x0D}


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("ab <>&\n\r]"), max_size=40), st.text(st.sampled_from("ab \n\r"), max_size=20))
def test_one_line_keeps_the_meaning_of_well_formed_xml(text: str, attribute: str) -> None:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cdata = text.replace("]]>", "")
    record = f"<a v='{attribute}'>{escaped}<b><![CDATA[{cdata}]]></b><!--\n--></a>".encode()
    before, after = ElementTree.fromstring(record), ElementTree.fromstring(one_line(record))
    assert (before.text, before.get("v"), before.findtext("b")) == (
        after.text,
        after.get("v"),
        after.findtext("b"),
    )
