# SPDX-License-Identifier: GPL-3.0-or-later
"""The Json format (docs/protocol.md §10.2) and the metadata block it shares with the others."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.formats.factory import EVENT_NS, META, event_xml, rendering_xml, system_xml
from wec.formats import JsonFormat, get_format
from wec.formats._common import rfc3339_utc
from wec.formats.event_xml import ErrorType, EventError, ParsedEvent, parse_event

JSON = JsonFormat()


def as_json(raw: str, meta: Any = META) -> dict[str, Any]:
    out = JSON.format(raw, parse_event(raw), meta)
    assert isinstance(out, bytes)
    assert not out.endswith(b"\n")  # framing belongs to drivers
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_the_example_event_key_by_key() -> None:
    doc = as_json(event_xml())
    assert list(doc) == ["System", "EventData", "RenderingInfo", "OpenWEC"]
    assert doc["System"] == {
        "Provider": {
            "Name": "Microsoft-Windows-Security-Auditing",
            "Guid": "{5484a625-5478-4994-a5ba-3e3b0328c30d}",
        },
        "EventID": 4624,
        "Version": 2,
        "Level": 0,
        "Task": 12544,
        "Opcode": 0,
        "Keywords": "0x8020000000000000",
        "TimeCreated": "2025-03-04T10:15:21.9071234Z",
        "EventRecordID": 775201,
        "Correlation": {"ActivityID": "{0d3f6a2b-91c4-0001-7be2-3f0d4c91db01}"},
        "Execution": {"ProcessID": 812, "ThreadID": 3304},
        "Channel": "Security",
        "Computer": "ws042.corp.example",
    }
    assert doc["EventData"] == {
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": "WS042$",
        "LogonType": "5",
        "ProcessName": "C:\\Windows\\System32\\services.exe",
        "IpAddress": "-",
    }
    assert doc["RenderingInfo"] == {
        "Message": "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18",
        "Level": "Information",
        "Task": "Logon",
        "Opcode": "Info",
        "Channel": "Security",
        "Provider": "Microsoft Windows security auditing.",
        "Keywords": ["Audit Success"],
        "Culture": "en-US",
    }
    assert doc["OpenWEC"] == {
        "IpAddress": "10.20.30.40",
        "TimeReceived": "2025-03-04T10:15:26.482913+00:00",
        "Principal": "WS042$@CORP.EXAMPLE",
        "Client": "WS042$@CORP.EXAMPLE",
        "Subscription": {
            "Uuid": "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "Version": "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
            "Name": "security-core",
        },
    }


def test_system_keys_follow_the_protocol_order() -> None:
    raw = event_xml(
        system=system_xml(
            provider="<Provider Name='P' Guid='{g}' EventSourceName='S'/>",
            event_id="<EventID Qualifiers='1'>2</EventID>",
            correlation="<Correlation ActivityID='{a}' RelatedActivityID='{r}'/>",
            execution="<Execution ProcessID='1' ThreadID='2' ProcessorID='3' SessionID='4' KernelTime='5'"
            " UserTime='6' ProcessorTime='7'/>",
            container="k",
            security="<Security UserID='S-1-5-18'/>",
        )
    )
    s = as_json(raw)["System"]
    assert list(s) == [
        "Provider",
        "EventID",
        "EventIDQualifiers",
        "Version",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "TimeCreated",
        "EventRecordID",
        "Correlation",
        "Execution",
        "Channel",
        "Computer",
        "Container",
        "UserID",
    ]
    assert list(s["Provider"]) == ["Name", "Guid", "EventSourceName"]
    assert s["Execution"] == {
        "ProcessID": 1,
        "ThreadID": 2,
        "ProcessorID": 3,
        "SessionID": 4,
        "KernelTime": 5,
        "UserTime": 6,
        "ProcessorTime": 7,
    }
    assert s["Correlation"] == {"ActivityID": "{a}", "RelatedActivityID": "{r}"}
    assert s["UserID"] == "S-1-5-18"


def test_missing_empty_and_unparsable_system_values_are_omitted() -> None:
    raw = event_xml(
        system=system_xml(
            provider="<Provider/>",
            version=None,
            level="",
            task="x",
            opcode="999",
            keywords="",
            time_created=None,
            record_id=None,
            correlation="<Correlation/>",
            execution=None,
            channel="",
        )
    )
    assert as_json(raw)["System"] == {
        "Provider": {},
        "EventID": 4624,
        "Correlation": {},
        "Computer": "ws042.corp.example",
    }


def test_unnamed_data_empty_values_dropped_and_binary() -> None:
    body = (
        "<EventData><Data>WINDOMAIN</Data><Data></Data>"
        "<Data>%%1311</Data><Binary>5E0000C0</Binary></EventData>"
    )
    assert as_json(event_xml(body=body))["EventData"] == {
        "Data": ["WINDOMAIN", "%%1311"],
        "Binary": "5E0000C0",
    }


def test_an_empty_event_data_gives_an_empty_object() -> None:
    assert as_json(event_xml(body="<EventData></EventData>"))["EventData"] == {}


def test_named_values_called_data_or_binary_give_way_to_the_list_and_hex() -> None:
    body = (
        "<EventData><Data Name='Data'>n</Data><Data Name='Binary'>b</Data>"
        "<Data>u</Data><Binary>00</Binary></EventData>"
    )
    assert as_json(event_xml(body=body))["EventData"] == {"Data": ["u"], "Binary": "00"}


def test_user_data_is_a_string_of_the_inner_xml() -> None:
    inner = "<ServiceShutdown xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'></ServiceShutdown>"
    doc = as_json(event_xml(body=f"<UserData>{inner}</UserData>"))
    assert list(doc) == ["System", "UserData", "RenderingInfo", "OpenWEC"]
    assert doc["UserData"] == inner


def test_debug_data_object() -> None:
    body = (
        "<DebugData><SequenceNumber>4</SequenceNumber>"
        "<Component>C</Component><Message>m</Message></DebugData>"
    )
    assert as_json(event_xml(body=body))["DebugData"] == {
        "SequenceNumber": 4,
        "Component": "C",
        "Message": "m",
    }
    body = (
        "<DebugData><FlagsName>F</FlagsName><LevelName>L</LevelName><SubComponent>S</SubComponent>"
        "<FileLine>x.c:1</FileLine><Function>f</Function></DebugData>"
    )
    assert list(as_json(event_xml(body=body))["DebugData"].items()) == [
        ("FlagsName", "F"),
        ("LevelName", "L"),
        ("Component", ""),
        ("SubComponent", "S"),
        ("FileLine", "x.c:1"),
        ("Function", "f"),
        ("Message", ""),
    ]


def test_processing_error_data_object() -> None:
    body = (
        "<ProcessingErrorData><ErrorCode>15005</ErrorCode>"
        "<DataItemName>D</DataItemName></ProcessingErrorData>"
    )
    assert as_json(event_xml(body=body))["ProcessingErrorData"] == {
        "ErrorCode": 15005,
        "DataItemName": "D",
        "EventPayload": "",
    }


def test_binary_event_data_string() -> None:
    assert as_json(event_xml(body="<BinaryEventData>0A0B</BinaryEventData>"))["BinaryEventData"] == "0A0B"


def test_event_111_has_no_data_key() -> None:
    raw = (
        f"<Event xmlns='{EVENT_NS}'><System><Provider Name='Microsoft-Windows-EventForwarder'/>"
        "<EventID>111</EventID><TimeCreated SystemTime='2025-03-04T10:15:21.907Z'/>"
        "<Computer>ws042.corp.example</Computer></System>"
        "<SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent></Event>"
    )
    doc = as_json(raw)
    assert list(doc) == ["System", "OpenWEC"]
    assert doc["System"] == {
        "Provider": {"Name": "Microsoft-Windows-EventForwarder"},
        "EventID": 111,
        "TimeCreated": "2025-03-04T10:15:21.907Z",
        "Computer": "ws042.corp.example",
    }


def test_rendering_info_empty_elements_omitted_culture_always_present() -> None:
    ren = rendering_xml(
        culture=None, message=None, level="", task="", opcode="", channel="", provider="", keywords=None
    )
    assert as_json(event_xml(rendering=ren))["RenderingInfo"] == {"Culture": ""}


def test_optional_metadata_is_written_when_configured() -> None:
    meta = replace(META, subscription_uri="/wec/x", client_revision="7", server_revision="8", node="node-a")
    block = as_json(event_xml(), meta)["OpenWEC"]
    assert list(block) == ["IpAddress", "TimeReceived", "Principal", "Client", "Subscription", "Node"]
    assert block["Node"] == "node-a"
    assert block["Subscription"] == {
        "Uuid": "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
        "Version": "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
        "Name": "security-core",
        "Uri": "/wec/x",
        "ClientRevision": "7",
        "ServerRevision": "8",
    }


def test_a_recovered_event_carries_the_error_and_the_recovered_fields() -> None:
    raw = event_xml(rendering="<RenderingInfo Culture='en-US'><Message>cut here")
    doc = as_json(raw)
    assert list(doc) == ["System", "EventData", "OpenWEC"]
    err = doc["OpenWEC"]["Error"]
    assert list(err) == ["OriginalContent", "Type", "Message"]
    assert err["OriginalContent"] == raw
    assert err["Type"] == "RawContentRecovered"


@pytest.mark.parametrize(
    ("raw", "etype"),
    [
        ("<Event xmlns='http://", "Unrecoverable"),
        (event_xml(body="<EventData><Oops <RenderingInfo", rendering=None), "FailedToRecoverRawContent"),
        (event_xml(system=system_xml(computer=None)), "FailedToFeedEvent"),
    ],
)
def test_an_unreadable_event_is_only_metadata_and_error_never_dropped(raw: str, etype: str) -> None:
    doc = as_json(raw)
    assert list(doc) == ["OpenWEC"]
    assert doc["OpenWEC"]["Error"]["Type"] == etype
    assert doc["OpenWEC"]["Error"]["OriginalContent"] == raw
    assert doc["OpenWEC"]["Error"]["Message"]


def test_an_unknown_error_has_no_message() -> None:
    parsed = ParsedEvent(error=EventError(ErrorType.UNKNOWN, None, "<x/>"))
    doc = json.loads(JSON.format("<x/>", parsed, META) or b"")
    assert doc["OpenWEC"]["Error"] == {"OriginalContent": "<x/>", "Type": "Unknown"}


def test_json_parses_the_event_itself_when_not_given_a_parsed_one() -> None:
    raw = event_xml()
    assert JSON.format(raw, None, META) == JSON.format(raw, parse_event(raw), META)


def test_output_is_compact_utf8_json() -> None:
    out = JSON.format(event_xml(system=system_xml(computer="poste-é")), None, META)
    assert out is not None
    assert "poste-é".encode() in out
    assert b'": ' not in out and b", " not in out.split(b'"Message"')[0]


def test_lone_surrogates_in_the_original_content_are_repaired_not_dropped() -> None:
    raw = event_xml(system=system_xml(computer="a\udc80b"), rendering=None)
    out = JSON.format(raw, None, META)
    assert out is not None
    doc = json.loads(out)
    assert doc["OpenWEC"]["Error"]["OriginalContent"] == raw.replace("\udc80", "\ufffd")


def test_get_format_returns_the_json_format() -> None:
    assert get_format("Json").name == "Json"


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (datetime(2022, 12, 14, 16, 7, 3, 331000, tzinfo=UTC), "2022-12-14T16:07:03.331+00:00"),
        (datetime(2022, 12, 14, 16, 7, 3, tzinfo=UTC), "2022-12-14T16:07:03+00:00"),
        (datetime(2022, 12, 14, 16, 7, 3, 482913, tzinfo=UTC), "2022-12-14T16:07:03.482913+00:00"),
        (
            datetime(2022, 12, 14, 17, 7, 3, 331000, tzinfo=timezone(timedelta(hours=1))),
            "2022-12-14T16:07:03.331+00:00",
        ),
        (datetime(2022, 12, 14, 16, 7, 3, 1000), "2022-12-14T16:07:03.001+00:00"),  # naive = UTC
    ],
)
def test_time_received_is_rfc3339_utc_with_the_fewest_exact_fraction_digits(t: datetime, text: str) -> None:
    assert rfc3339_utc(t) == text
