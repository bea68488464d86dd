# SPDX-License-Identifier: GPL-3.0-or-later
"""parse_event: the typed record of one event (docs/protocol.md §10.1) and its error (§10.3)."""

from __future__ import annotations

import pytest

from tests.formats.factory import EVENT_NS, event_xml, rendering_xml, system_xml
from wec.formats.event_xml import (
    BinaryEventData,
    Correlation,
    DebugData,
    ErrorType,
    EventData,
    Execution,
    ProcessingErrorData,
    Provider,
    RenderingInfo,
    UserData,
    parse_event,
)


def test_a_complete_event_gives_typed_system_fields() -> None:
    e = parse_event(
        event_xml(
            system=system_xml(
                provider=(
                    "<Provider Name='Microsoft-Windows-Security-SPP' "
                    "Guid='{E23B33B0-C8C9-472C-A5F9-F2BDFEA0F156}'"
                    " EventSourceName='Software Protection Platform Service'/>"
                ),
                event_id="<EventID Qualifiers='16384'>1003</EventID>",
                version="1",
                level="4",
                task="7",
                opcode="2",
                keywords="0x80000000000000",
                record_id="18446744073709551615",
                correlation="<Correlation ActivityID='{aa}' RelatedActivityID='{bb}'/>",
                execution="<Execution ProcessID='6628' ThreadID='12' ProcessorID='3' SessionID='1'"
                " KernelTime='10' UserTime='20' ProcessorTime='30'/>",
                channel="Application",
                container="c0ffee",
                security="<Security UserID='S-1-5-19'/>",
            )
        )
    )
    assert e.error is None
    s = e.system
    assert s is not None
    assert s.provider == Provider(
        "Microsoft-Windows-Security-SPP",
        "{E23B33B0-C8C9-472C-A5F9-F2BDFEA0F156}",
        "Software Protection Platform Service",
    )
    assert (s.event_id, s.event_id_qualifiers) == (1003, 16384)
    assert (s.version, s.level, s.task, s.opcode) == (1, 4, 7, 2)
    assert s.keywords == "0x80000000000000"
    assert s.time_created == "2025-03-04T10:15:21.9071234Z"
    assert s.event_record_id == 2**64 - 1
    assert s.correlation == Correlation("{aa}", "{bb}")
    assert s.execution == Execution(6628, 12, 3, 1, 10, 20, 30)
    assert (s.channel, s.computer, s.container, s.user_id) == (
        "Application",
        "ws042.corp.example",
        "c0ffee",
        "S-1-5-19",
    )


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("version", "abc"),
        ("version", "256"),  # Version is 8 bits
        ("level", "-1"),
        ("task", "65536"),  # Task is 16 bits
        ("opcode", "1.0"),
        ("record_id", "18446744073709551616"),  # EventRecordID is 64 bits
        ("record_id", "1e3"),
        ("record_id", "٣"),  # a non-ASCII digit is not a digit here
        ("record_id", "1_000"),
        ("record_id", "9" * 5000),  # far beyond Python's int() digit limit: omitted, no crash
        ("level", ""),
    ],
)
def test_numbers_that_do_not_parse_are_absent(field: str, text: str) -> None:
    e = parse_event(event_xml(system=system_xml(**{field: text})))
    assert e.error is None
    attr = {"record_id": "event_record_id"}.get(field, field)
    assert getattr(e.system, attr) is None


def test_numbers_may_have_a_plus_sign_and_surrounding_whitespace() -> None:
    e = parse_event(event_xml(system=system_xml(level="+4", task="\n  12 \n")))
    assert e.system is not None
    assert (e.system.level, e.system.task) == (4, 12)


def test_event_id_qualifiers_that_do_not_parse_are_absent() -> None:
    e = parse_event(event_xml(system=system_xml(event_id="<EventID Qualifiers='x'>4624</EventID>")))
    assert e.system is not None
    assert (e.system.event_id, e.system.event_id_qualifiers) == (4624, None)


def test_empty_and_whitespace_only_system_elements_are_absent() -> None:
    e = parse_event(event_xml(system=system_xml(channel="", keywords="\n    ", container="  ")))
    assert e.system is not None
    assert (e.system.channel, e.system.keywords, e.system.container) == (None, None, None)


def test_an_empty_correlation_is_present_without_ids() -> None:
    e = parse_event(event_xml(system=system_xml(correlation="<Correlation/>")))
    assert e.system is not None
    assert e.system.correlation == Correlation(None, None)


def test_absent_correlation_execution_and_security_give_none() -> None:
    e = parse_event(event_xml(system=system_xml(correlation=None, execution=None, security=None)))
    assert e.system is not None
    assert (e.system.correlation, e.system.execution, e.system.user_id) == (None, None, None)


def test_optional_execution_ids_that_do_not_parse_are_absent() -> None:
    e = parse_event(
        event_xml(system=system_xml(execution="<Execution ProcessID='4' ThreadID='8' ProcessorID='300'/>"))
    )
    assert e.system is not None
    assert e.system.execution == Execution(4, 8)


def test_event_data_named_values_unnamed_values_and_binary() -> None:
    body = (
        "<EventData><Data Name='a'>1</Data><Data Name='empty'></Data><Data Name='a'>2</Data>"
        "<Data>x</Data><Data></Data><Data/><Data>y</Data><Binary>5E0000C0</Binary></EventData>"
    )
    e = parse_event(event_xml(body=body))
    assert e.data == EventData({"a": "2", "empty": ""}, ["x", "y"], "5E0000C0")


def test_event_data_values_are_kept_verbatim_with_entities_decoded() -> None:
    body = "<EventData><Data Name='cmd'>  a &amp; b &lt;c&gt;&#13;&#10;\td  </Data></EventData>"
    e = parse_event(event_xml(body=body))
    assert e.data == EventData({"cmd": "  a & b <c>\r\n\td  "}, [], None)


def test_an_empty_event_data_is_present_and_empty() -> None:
    e = parse_event(event_xml(body="<EventData/>"))
    assert e.data == EventData({}, [], None)


def test_user_data_is_its_inner_xml_as_received() -> None:
    inner = (
        "<LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
        "<SubjectUserName>a&amp;b</SubjectUserName><Empty></Empty></LogFileCleared>"
    )
    e = parse_event(event_xml(body=f"<UserData>{inner}</UserData>"))
    assert e.data == UserData(inner)


def test_user_data_with_attributes_containing_a_closing_bracket_and_a_prefix() -> None:
    raw = (
        f"<e:Event xmlns:e='{EVENT_NS}'><e:System><e:EventID>1</e:EventID><e:Computer>h</e:Computer>"
        "</e:System><e:UserData a='x>y'><Inner/></e:UserData></e:Event>"
    )
    e = parse_event(raw)
    assert e.error is None
    assert e.data == UserData("<Inner/>")


def test_a_self_closing_user_data_is_empty() -> None:
    assert parse_event(event_xml(body="<UserData/>")).data == UserData("")


def test_debug_data_fields() -> None:
    body = (
        "<DebugData><SequenceNumber>17</SequenceNumber><FlagsName>F</FlagsName><LevelName>L</LevelName>"
        "<Component>C</Component><SubComponent>S</SubComponent><FileLine>f.c:3</FileLine>"
        "<Function>fn</Function><Message>m</Message></DebugData>"
    )
    assert parse_event(event_xml(body=body)).data == DebugData("C", "m", 17, "F", "L", "S", "f.c:3", "fn")


def test_debug_data_defaults_when_children_are_missing() -> None:
    body = "<DebugData><SequenceNumber>x</SequenceNumber></DebugData>"
    assert parse_event(event_xml(body=body)).data == DebugData("", "")


def test_processing_error_data_fields() -> None:
    body = (
        "<ProcessingErrorData><ErrorCode>15005</ErrorCode><DataItemName>Item</DataItemName>"
        "<EventPayload>00AB</EventPayload></ProcessingErrorData>"
    )
    assert parse_event(event_xml(body=body)).data == ProcessingErrorData(15005, "Item", "00AB")


def test_binary_event_data_is_its_text() -> None:
    assert parse_event(event_xml(body="<BinaryEventData>0102</BinaryEventData>")).data == BinaryEventData(
        "0102"
    )
    assert parse_event(event_xml(body="<BinaryEventData/>")).data == BinaryEventData("")


def test_rendering_info_fields() -> None:
    e = parse_event(event_xml(rendering=rendering_xml(keywords=("Audit Success", "Classic"))))
    assert e.rendering_info == RenderingInfo(
        "en-US",
        "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18",
        "Information",
        "Logon",
        "Info",
        "Security",
        "Microsoft Windows security auditing.",
        ["Audit Success", "Classic"],
    )


def test_rendering_info_empty_elements_are_absent_and_culture_defaults_to_empty() -> None:
    ren = rendering_xml(culture=None, task="", opcode="", channel="  ", provider="", keywords=())
    e = parse_event(event_xml(rendering=ren))
    assert e.rendering_info is not None
    r = e.rendering_info
    assert (r.culture, r.task, r.opcode, r.channel, r.provider, r.keywords) == (
        "",
        None,
        None,
        None,
        None,
        [],
    )


def test_event_111_has_no_data_section() -> None:
    raw = (
        f"<Event xmlns='{EVENT_NS}'><System><Provider Name='Microsoft-Windows-EventForwarder'/>"
        "<EventID>111</EventID><TimeCreated SystemTime='2025-03-04T10:15:21.907Z'/>"
        "<Computer>ws042.corp.example</Computer></System>"
        "<SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent></Event>"
    )
    e = parse_event(raw)
    assert e.error is None
    assert e.data is None
    assert e.rendering_info is None
    assert e.system is not None
    assert (e.system.event_id, e.system.version, e.system.correlation) == (111, None, None)


def test_comments_processing_instructions_and_unknown_elements_are_ignored() -> None:
    raw = event_xml(
        body="<!-- c --><?pi x?><Surprise>1</Surprise><EventData><!-- d --><Data>v</Data></EventData>"
    )
    e = parse_event(raw)
    assert e.error is None
    assert e.data == EventData({}, ["v"], None)


def test_an_xml_declaration_with_another_encoding_is_accepted() -> None:
    e = parse_event("<?xml version='1.0' encoding='UTF-16'?>" + event_xml())
    assert e.error is None
    assert e.system is not None


def test_non_ascii_text_survives() -> None:
    e = parse_event(
        event_xml(
            system=system_xml(computer="poste-électrique-Ж"), body="<EventData><Data>日本</Data></EventData>"
        )
    )
    assert e.system is not None
    assert e.system.computer == "poste-électrique-Ж"
    assert e.data == EventData({}, ["日本"], None)


# ---------------------------------------------------------------------------------------------
# Malformed events (docs/protocol.md §10.3).


def test_truncated_rendering_info_is_cut_and_the_rest_recovered() -> None:
    raw = event_xml(rendering="<RenderingInfo Culture='en-US'><Message>An account was succ")
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.RAW_CONTENT_RECOVERED
    assert e.error.original_content == raw
    assert e.error.message and "could be recovered" in e.error.message
    assert e.system is not None
    assert e.system.event_id == 4624
    assert isinstance(e.data, EventData)
    assert e.data.named["SubjectUserName"] == "WS042$"
    assert e.rendering_info is None


def test_the_cut_is_made_at_the_last_rendering_info() -> None:
    # A first, complete "<RenderingInfo" inside a CDATA section must not be the cut point.
    body = "<EventData><Data Name='x'><![CDATA[<RenderingInfo>]]></Data></EventData>"
    raw = event_xml(body=body, rendering="<RenderingInfo Culture='en-US'><Message>trunc")
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.RAW_CONTENT_RECOVERED
    assert e.data == EventData({"x": "<RenderingInfo>"}, [], None)


def test_when_the_cut_text_is_still_invalid_recovery_fails() -> None:
    raw = event_xml(
        body="<EventData><Data Name='x'>1</Data></EventData><Broken <RenderingInfo", rendering=None
    )
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.FAILED_TO_RECOVER_RAW_CONTENT
    assert e.error.original_content == raw
    assert (e.system, e.data, e.rendering_info) == (None, None, None)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "not xml at all",
        "<Event xmlns='http://",
        event_xml(rendering=None)[:-20],  # truncated, and no RenderingInfo to cut at
        "<Event><System></Event>",
        "<a/><b/>",
    ],
)
def test_invalid_xml_without_rendering_info_is_unrecoverable_and_kept(raw: str) -> None:
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.UNRECOVERABLE
    assert e.error.original_content == raw
    assert e.error.message and e.error.message.startswith("Failed to parse event XML: ")
    assert (e.system, e.data, e.rendering_info) == (None, None, None)


@pytest.mark.parametrize(
    ("system", "reason"),
    [
        (system_xml(computer=None), "Computer"),
        (system_xml(computer=""), "Computer"),
        (system_xml(event_id=None), "EventID"),
        (system_xml(event_id="<EventID>4624x</EventID>"), "EventID"),
        (system_xml(event_id="<EventID>4294967296</EventID>"), "EventID"),  # EventID is 32 bits
        (system_xml(time_created="<TimeCreated/>"), "SystemTime"),
        (system_xml(execution="<Execution ThreadID='1'/>"), "ProcessID"),
        (system_xml(execution="<Execution ProcessID='1' ThreadID='x'/>"), "ThreadID"),
    ],
)
def test_a_bad_required_system_field_fails_to_feed_and_nothing_is_kept(system: str, reason: str) -> None:
    raw = event_xml(system=system)
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.FAILED_TO_FEED_EVENT
    assert e.error.message and "System" in e.error.message and reason in e.error.message
    assert e.error.original_content == raw
    # System comes first: nothing after it was read.
    assert (e.system, e.data, e.rendering_info) == (None, None, None)


def test_an_event_without_system_fails_to_feed() -> None:
    raw = f"<Event xmlns='{EVENT_NS}'><EventData><Data>x</Data></EventData></Event>"
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.FAILED_TO_FEED_EVENT
    assert e.data == EventData({}, ["x"], None)


def test_a_bad_error_code_keeps_system_but_not_the_data_or_what_follows() -> None:
    body = "<ProcessingErrorData><ErrorCode>boom</ErrorCode></ProcessingErrorData>"
    e = parse_event(event_xml(body=body))
    assert e.error is not None
    assert e.error.type is ErrorType.FAILED_TO_FEED_EVENT
    assert e.error.message and "ProcessingErrorData" in e.error.message
    assert e.system is not None
    assert (e.data, e.rendering_info) == (None, None)


def test_a_recovered_event_whose_system_is_bad_fails_to_feed() -> None:
    raw = event_xml(system=system_xml(computer=None), rendering="<RenderingInfo><Message>cut")
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.FAILED_TO_FEED_EVENT
    assert e.error.original_content == raw


# ---------------------------------------------------------------------------------------------
# A hardened parser (docs/design.md §5.3).


def test_a_document_type_declaration_is_refused() -> None:
    raw = "<!DOCTYPE Event [<!ENTITY x 'boom'>]>" + event_xml(system=system_xml(computer="&x;"))
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.UNRECOVERABLE or e.error.type is ErrorType.FAILED_TO_RECOVER_RAW_CONTENT
    assert e.system is None


def test_entity_expansion_bombs_are_not_expanded() -> None:
    lol = "<!DOCTYPE lolz [<!ENTITY a 'aaaaaaaaaa'>" + "".join(
        f"<!ENTITY {chr(98 + i)} '{('&' + chr(97 + i) + ';') * 10}'>" for i in range(8)
    )
    raw = lol + "]>" + event_xml(system=system_xml(computer="&i;"))
    e = parse_event(raw)
    assert e.error is not None
    assert e.system is None


def test_external_entities_are_not_fetched(tmp_path: pytest.TempPathFactory) -> None:
    raw = "<!DOCTYPE Event [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" + event_xml(
        system=system_xml(computer="&x;")
    )
    e = parse_event(raw)
    assert e.error is not None
    assert e.system is None


def test_lone_surrogates_do_not_raise() -> None:
    raw = event_xml(system=system_xml(computer="a\ud800b"), rendering=None)
    e = parse_event(raw)
    assert e.error is not None
    assert e.error.type is ErrorType.UNRECOVERABLE
    assert e.error.original_content == raw


@pytest.mark.parametrize(
    "before",
    ["<!--<UserData>-->", "<!--<UserData><y/></UserData>-->"],
)
def test_user_data_is_taken_from_the_element_not_from_a_comment(before: str) -> None:
    raw = (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='p'/><EventID>1</EventID><Computer>c</Computer></System>"
        f"{before}<UserData><x xmlns='urn:a'>1</x></UserData></Event>"
    )
    data = parse_event(raw).data
    assert isinstance(data, UserData)
    assert data.xml == '<x xmlns="urn:a">1</x>'
