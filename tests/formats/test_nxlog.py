# SPDX-License-Identifier: GPL-3.0-or-later
"""The Nxlog format (docs/protocol.md §10.2): flat, nxlog im_msvistalog names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.formats.factory import META, event_xml, rendering_xml, system_xml
from wec.formats import NxlogFormat
from wec.formats.event_xml import parse_event
from wec.formats.nxlog import signed_keywords

NXLOG = NxlogFormat()


def as_nxlog(raw: str) -> dict[str, Any]:
    out = NXLOG.format(raw, parse_event(raw), META)
    assert isinstance(out, bytes)
    assert not out.endswith(b"\n")
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_the_example_event_key_by_key() -> None:
    doc = as_nxlog(event_xml(system=system_xml(security="<Security UserID='S-1-5-18'/>")))
    assert list(doc) == [
        "SourceName",
        "ProviderGuid",
        "EventID",
        "Version",
        "Task",
        "OpcodeValue",
        "Keywords",
        "EventTime",
        "RecordNumber",
        "ActivityID",
        "ProcessID",
        "ThreadID",
        "Channel",
        "Hostname",
        "UserID",
        "EventType",
        "Severity",
        "SeverityValue",
        "SubjectUserSid",
        "SubjectUserName",
        "LogonType",
        "ProcessName",
        "IpAddress",
        "Message",
        "Category",
        "Opcode",
        "OpenWEC",
        "EventReceivedTime",
    ]
    assert doc["SourceName"] == "Microsoft-Windows-Security-Auditing"
    assert doc["ProviderGuid"] == "{5484A625-5478-4994-A5BA-3E3B0328C30D}"
    assert (doc["EventID"], doc["Version"], doc["Task"], doc["OpcodeValue"]) == (4624, 2, 12544, 0)
    assert doc["Keywords"] == -9214364837600034816
    assert doc["EventTime"] == "2025-03-04T10:15:21.9071234Z"
    assert doc["RecordNumber"] == 775201
    assert doc["ActivityID"] == "{0D3F6A2B-91C4-0001-7BE2-3F0D4C91DB01}"
    assert (doc["ProcessID"], doc["ThreadID"]) == (812, 3304)
    assert (doc["Channel"], doc["Hostname"], doc["UserID"]) == ("Security", "ws042.corp.example", "S-1-5-18")
    assert (doc["EventType"], doc["Severity"], doc["SeverityValue"]) == ("AUDIT_SUCCESS", "INFO", 2)
    assert doc["Message"].startswith("An account was successfully logged on.\r\n")
    assert (doc["Category"], doc["Opcode"]) == ("Logon", "Info")
    assert "Level" not in doc
    assert doc["EventReceivedTime"] == doc["OpenWEC"]["TimeReceived"] == "2025-03-04T10:15:26.482913+00:00"
    assert doc["OpenWEC"]["Client"] == "WS042$@CORP.EXAMPLE"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x8020000000000000", -9214364837600034816),
        ("0x8010000000000000", -9218868437227405312),
        ("0x4020000000000000", 4620693217682128896),
        ("0x80000000000000", 36028797018963968),
        ("0xFFFFFFFFFFFFFFFF", -1),
        ("0x7fffffffffffffff", 2**63 - 1),
        ("0x0", 0),
        ("0X10", 16),
        ("8020000000000000", None),  # no prefix
        ("0x", None),
        ("0x1_0", None),
        ("0x+10", None),
        ("0x10000000000000000", None),  # 17 hex digits: beyond 64 bits
        ("0xZZ", None),
        (None, None),
    ],
)
def test_keywords_become_the_signed_64_bit_value(text: str | None, value: int | None) -> None:
    assert signed_keywords(text) == value


def test_keywords_that_do_not_parse_are_omitted() -> None:
    doc = as_nxlog(event_xml(system=system_xml(keywords="Audit")))
    assert "Keywords" not in doc
    assert "EventType" not in doc  # Security without keywords: no audit verdict


@pytest.mark.parametrize(
    ("level", "event_type", "severity", "value"),
    [
        ("1", "CRITICAL", "CRITICAL", 5),
        ("2", "ERROR", "ERROR", 4),
        ("3", "WARNING", "WARNING", 3),
        ("4", "INFO", "INFO", 2),
        ("5", "VERBOSE", "DEBUG", 1),
        ("0", None, None, None),
        ("6", None, None, None),
        (None, None, None, None),
    ],
)
def test_event_type_outside_security_follows_the_level(
    level: str | None, event_type: str | None, severity: str | None, value: int | None
) -> None:
    doc = as_nxlog(
        event_xml(system=system_xml(channel="Application", level=level, keywords="0x8020000000000000"))
    )
    assert doc.get("EventType") == event_type
    assert doc.get("Severity") == severity
    assert doc.get("SeverityValue") == value


@pytest.mark.parametrize(
    ("keywords", "event_type", "severity", "value"),
    [
        ("0x8020000000000000", "AUDIT_SUCCESS", "INFO", 2),
        ("0x8010000000000000", "AUDIT_FAILURE", "ERROR", 4),
        ("0x0030000000000000", "AUDIT_SUCCESS", "INFO", 2),  # both bits: success wins
        ("0x8000000000000000", None, None, None),
    ],
)
def test_event_type_in_security_follows_the_audit_bits_not_the_level(
    keywords: str, event_type: str | None, severity: str | None, value: int | None
) -> None:
    doc = as_nxlog(event_xml(system=system_xml(channel="Security", level="2", keywords=keywords)))
    assert doc.get("EventType") == event_type
    assert doc.get("Severity") == severity
    assert doc.get("SeverityValue") == value


def test_no_channel_no_event_type() -> None:
    doc = as_nxlog(event_xml(system=system_xml(channel=None, level="2")))
    assert "EventType" not in doc and "Severity" not in doc and "Channel" not in doc


def test_related_activity_id_is_upper_case() -> None:
    doc = as_nxlog(
        event_xml(system=system_xml(correlation="<Correlation ActivityID='{ab}' RelatedActivityID='{cd}'/>"))
    )
    assert (doc["ActivityID"], doc["RelatedActivityID"]) == ("{AB}", "{CD}")


def test_an_empty_correlation_adds_nothing() -> None:
    doc = as_nxlog(event_xml(system=system_xml(correlation="<Correlation/>")))
    assert "ActivityID" not in doc and "RelatedActivityID" not in doc and "Correlation" not in doc


def test_unnamed_data_and_binary_are_flat_keys() -> None:
    body = "<EventData><Data>a</Data><Data></Data><Data>b</Data><Binary>00FF</Binary></EventData>"
    doc = as_nxlog(event_xml(body=body))
    assert (doc["Data"], doc["Binary"]) == (["a", "b"], "00FF")


def test_user_data_is_a_string() -> None:
    doc = as_nxlog(event_xml(body="<UserData><X xmlns='urn:x'>1</X></UserData>"))
    assert doc["UserData"] == "<X xmlns='urn:x'>1</X>"


def test_debug_data_fields_are_flat_and_the_rendered_message_wins() -> None:
    body = (
        "<DebugData><SequenceNumber>9</SequenceNumber>"
        "<Component>C</Component><Message>dbg</Message></DebugData>"
    )
    doc = as_nxlog(event_xml(body=body, rendering=None))
    assert (doc["SequenceNumber"], doc["Component"], doc["Message"]) == (9, "C", "dbg")
    doc = as_nxlog(event_xml(body=body))
    assert doc["Message"].startswith("An account")


def test_processing_error_data_fields_are_flat() -> None:
    body = (
        "<ProcessingErrorData><ErrorCode>7</ErrorCode><DataItemName>I</DataItemName>"
        "<EventPayload>P</EventPayload></ProcessingErrorData>"
    )
    doc = as_nxlog(event_xml(body=body))
    assert (doc["ErrorCode"], doc["DataItemName"], doc["EventPayload"]) == (7, "I", "P")


def test_binary_event_data_is_a_flat_key() -> None:
    assert as_nxlog(event_xml(body="<BinaryEventData>AA</BinaryEventData>"))["BinaryEventData"] == "AA"


def test_a_data_value_named_like_a_later_key_gives_way() -> None:
    body = "<EventData><Data Name='Message'>from data</Data><Data Name='Hostname'>forged</Data></EventData>"
    doc = as_nxlog(event_xml(body=body))
    assert doc["Message"].startswith("An account")  # RenderingInfo comes after the data
    assert doc["Hostname"] == "forged"  # the data comes after System (OpenWEC's last-wins)
    doc = as_nxlog(event_xml(body=body, rendering=None))
    assert doc["Message"] == "from data"


def test_rendering_info_without_task_or_opcode() -> None:
    doc = as_nxlog(event_xml(rendering=rendering_xml(task="", opcode=None, message="")))
    assert "Category" not in doc and "Opcode" not in doc and "Message" not in doc


def test_an_unreadable_event_keeps_the_error_and_received_time() -> None:
    raw = "<Event xmlns='http://"
    doc = as_nxlog(raw)
    assert list(doc) == ["OpenWEC", "EventReceivedTime"]
    assert doc["OpenWEC"]["Error"]["Type"] == "Unrecoverable"
    assert doc["OpenWEC"]["Error"]["OriginalContent"] == raw


def test_nxlog_parses_the_event_itself_when_not_given_a_parsed_one() -> None:
    raw = event_xml()
    assert NXLOG.format(raw, None, META) == NXLOG.format(raw, parse_event(raw), META)
