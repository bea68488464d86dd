# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator writes source messages the way Windows does and reads collector replies safely."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.sim.fake_collector import FakeSubscription, _ack, _enumerate_response
from tests.support.vectors import vector_path
from wec.sim import soap

S, A, E, W = soap.NS_S, soap.NS_A, soap.NS_E, soap.NS_W
TO = "http://wec.test.local:5985/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
REFS = (
    soap.RefParam(E, "Identifier", "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"),
    soap.RefParam(None, "Version", "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12"),
)
UUID_RE = re.compile(r"uuid:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
EVENT = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1</EventID>"
    "<EventRecordID>5</EventRecordID><Channel>System</Channel><Computer>pc</Computer></System></Event>"
)


def _header_names(xml: str) -> list[str]:
    root = etree.fromstring(xml.encode())
    header = root.find(f"{{{S}}}Header")
    assert header is not None
    return [etree.QName(c).localname for c in header]


def _shape(el: etree._Element) -> list[tuple[str, tuple[str, ...]]]:
    """Document-order (tag, attribute names) of a tree: the structure without the values."""
    return [(str(e.tag), tuple(sorted(e.attrib))) for e in el.iter() if isinstance(e.tag, str)]


def _stream(kind: str, refs: tuple[soap.RefParam, ...] = REFS) -> str:
    if kind == "heartbeat":
        return soap.build_heartbeat(TO, "pc.corp", soap.new_uuid(), refs, soap.new_uuid(), soap.new_uuid())
    return soap.build_events(
        TO,
        "pc.corp",
        soap.new_uuid(),
        refs,
        [EVENT],
        soap.bookmark_list_xml({"System": 5}),
        soap.new_uuid(),
        soap.new_uuid(),
    )


COMMON = [
    "To",
    "MachineID",
    "ReplyTo",
    "Action",
    "MaxEnvelopeSize",
    "MessageID",
    "Locale",
    "DataLocale",
    "SessionId",
    "OperationID",
    "SequenceId",
    "OperationTimeout",
]


def test_enumerate_header_is_in_windows_order() -> None:
    xml = soap.build_enumerate(
        "http://wec:5985/wsman/SubscriptionManager/WEC",
        "pc.corp",
        soap.new_uuid(),
        soap.new_uuid(),
        soap.new_uuid(),
    )
    assert _header_names(xml) == ["To", "ResourceURI", *COMMON[1:]]


def test_stream_headers_are_in_windows_order_and_echo_reference_parameters() -> None:
    assert _header_names(_stream("heartbeat")) == [*COMMON, "Identifier", "Version", "AckRequested"]
    assert _header_names(_stream("events")) == [*COMMON, "Identifier", "Version", "Bookmark", "AckRequested"]
    end = soap.build_subscription_end(
        TO, "pc.corp", soap.new_uuid(), REFS, TO, soap.new_uuid(), soap.new_uuid()
    )
    assert _header_names(end) == [*COMMON, "Identifier", "Version", "AckRequested"]
    assert "<w:OperationTimeout>PT0.500S</w:OperationTimeout>" in end
    root = etree.fromstring(_stream("events").encode())
    assert root.findtext(f"{{{S}}}Header/{{{E}}}Identifier") == REFS[0].value
    assert root.findtext(f"{{{S}}}Header/Version") == REFS[1].value  # no namespace


def test_end_header_is_short() -> None:
    op = soap.new_uuid()
    xml = soap.build_end(soap.new_uuid(), op)
    assert _header_names(xml) == ["To", "ResourceURI", "Action", "MessageID", "OperationID"]
    assert f"<p:OperationID>{op}</p:OperationID>" in xml


def test_messages_are_compact_and_ids_are_uppercase_uuids() -> None:
    for xml in (_stream("heartbeat"), _stream("events"), soap.build_end(soap.new_uuid(), soap.new_uuid())):
        assert re.search(r">\s+<", xml) is None
        root = etree.fromstring(xml.encode())
        for name in ("MessageID", "OperationID", "SessionId"):
            for el in root.iter(f"{{*}}{name}"):
                assert UUID_RE.fullmatch(el.text or "")


def test_wire_form_is_utf16le_with_bom() -> None:
    data = soap.encode_utf16(_stream("heartbeat"))
    assert data[:2] == b"\xff\xfe"
    assert data[2:4] == "<".encode("utf-16-le")
    assert soap.decode_body(data) == _stream("heartbeat")[:0] + data[2:].decode("utf-16-le")


def test_events_carry_cdata_payloads_and_a_namespace_free_bookmark() -> None:
    tricky = EVENT.replace("<EventID>1</EventID>", "<EventID>1</EventID><!-- ]]> -->")
    xml = soap.build_events(
        TO,
        "pc.corp",
        soap.new_uuid(),
        REFS,
        [EVENT, tricky],
        soap.bookmark_list_xml({"Security": 9, "System": 5}, current="System"),
        soap.new_uuid(),
        soap.new_uuid(),
    )
    assert f'<w:Event Action="{soap.EVENT_ACTION}"><![CDATA[{EVENT}]]></w:Event>' in xml
    root = etree.fromstring(xml.encode())
    payloads = [e.text for e in root.iter(f"{{{W}}}Event")]
    assert payloads == [EVENT, tricky]
    bl = root.find(f"{{{S}}}Header/{{{W}}}Bookmark/BookmarkList")
    assert bl is not None
    assert [(b.get("Channel"), b.get("RecordId"), b.get("IsCurrent")) for b in bl] == [
        ("Security", "9", None),
        ("System", "5", "true"),
    ]


def test_our_messages_have_the_structure_of_the_captured_windows_messages() -> None:
    captured_enum = etree.fromstring(
        vector_path("wef", "openwec-01-enumerate-request.utf16le.bin")
        .read_bytes()[2:]
        .decode("utf-16-le")
        .encode()
    )
    ours = etree.fromstring(
        soap.build_enumerate(
            "http://srv:5985/wsman/SubscriptionManager/WEC",
            "pc",
            soap.new_uuid(),
            soap.new_uuid(),
            soap.new_uuid(),
        ).encode()
    )
    assert _shape(ours) == _shape(captured_enum)
    captured_hb = etree.fromstring(
        vector_path("wef", "openwec-04-heartbeat.utf16le.bin").read_bytes()[2:].decode("utf-16-le").encode()
    )
    windows_refs = (REFS[0],)  # Windows WEC's reference properties hold only the Identifier
    assert _shape(etree.fromstring(_stream("heartbeat", windows_refs).encode())) == _shape(captured_hb)
    captured_end = etree.fromstring(vector_path("wef", "openwec-03-end-request.xml").read_bytes())
    assert _shape(etree.fromstring(soap.build_end(soap.new_uuid(), soap.new_uuid()).encode())) == _shape(
        captured_end
    )
    captured_events = etree.fromstring(vector_path("wef", "openwec-06-events-batch-21.xml").read_bytes())
    ours_events = etree.fromstring(_stream("events", windows_refs).encode())
    header = captured_events.find(f"{{{S}}}Header")
    assert header is not None
    assert _header_names(etree.tostring(captured_events).decode()) == _header_names(
        etree.tostring(ours_events).decode()
    )


def test_heartbeat_text_matches_the_capture_apart_from_values() -> None:
    captured = vector_path("wef", "openwec-04-heartbeat.utf16le.bin").read_bytes()[2:].decode("utf-16-le")
    ours = soap.build_heartbeat(
        "http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1",
        "win10.windomain.local",
        "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA",
        (soap.RefParam(E, "Identifier", "219C5353-5F3D-4CD7-A644-F6B69E57C1C1"),),
        "uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB",
        "uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22",
    )
    assert ours == captured  # byte-for-byte, once the values are the captured ones


def _sub(**kw: object) -> FakeSubscription:
    return FakeSubscription("9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95", "security-core", **kw)  # type: ignore[arg-type]


def test_parse_enumerate_response_with_a_stored_bookmark() -> None:
    bl = '<BookmarkList><Bookmark Channel="Security" RecordId="582113" IsCurrent="true"/></BookmarkList>'
    xml = _enumerate_response(
        "uuid:AAAA",
        "wec.test.local:5985",
        [_sub(channels=("Security",), compression=True, content_format="RenderedText", max_elements=20)],
        {"9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95": bl},
    )
    er = soap.parse_enumerate_response(soap.encode_utf16(xml))
    assert er.relates_to == "uuid:AAAA"
    (sub,) = er.subscriptions
    assert sub.version == "uuid:3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12"
    assert sub.name == "security-core"
    assert (
        sub.notify_to == "http://wec.test.local:5985/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
    )
    assert sub.end_to == sub.notify_to
    assert sub.refs == REFS
    assert sub.ref("Version") == REFS[1].value
    assert (sub.heartbeat_s, sub.max_time_s, sub.max_elements, sub.max_envelope_size) == (
        3600.0,
        30.0,
        20,
        512000,
    )
    assert (sub.connection_retry_total, sub.connection_retry_interval_s) == (5, 60.0)
    assert sub.compression and sub.content_format == "RenderedText"
    assert sub.channels == ("Security",)
    assert sub.query is not None and sub.query.startswith("<QueryList>")
    assert sub.bookmark.positions == {"Security": 582113} and not sub.bookmark.earliest
    assert sub.auth_profile == "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"


def test_parse_enumerate_response_earliest_and_no_bookmark() -> None:
    earliest = soap.parse_enumerate_response(
        _enumerate_response("uuid:B", "h:1", [_sub(read_existing_events=True)], {})
    )
    assert earliest.subscriptions[0].bookmark.earliest
    assert earliest.subscriptions[0].read_existing_events
    none = soap.parse_enumerate_response(_enumerate_response("uuid:B", "h:1", [_sub()], {}))
    assert none.subscriptions[0].bookmark == soap.BookmarkState()
    empty = soap.parse_enumerate_response(_enumerate_response("uuid:B", "h:1", [], {}))
    assert empty.subscriptions == ()


def test_parse_real_windows_enumerate_responses() -> None:
    er = soap.parse_enumerate_response(vector_path("wef", "openwec-02-enumerate-response.xml").read_bytes())
    (sub,) = er.subscriptions
    assert sub.name == "Toto" and sub.compression and sub.content_format == "RenderedText"
    assert sub.refs == (soap.RefParam(E, "Identifier", "219C5353-5F3D-4CD7-A644-F6B69E57C1C1"),)
    assert sub.bookmark.positions == {"Microsoft-Windows-WinRM/Operational": 149140}
    assert sub.channels == ("Microsoft-Windows-WinRM/Operational",)
    assert (sub.locale, sub.data_locale) == ("en-US", "en-US")
    big = soap.parse_enumerate_response(vector_path("wef", "owinec-02-enumerate-response.xml").read_bytes())
    (test,) = big.subscriptions
    assert test.name == "Test" and test.max_time_s == 30.0 and test.heartbeat_s == 3600.0
    assert len(test.channels) > 100
    assert test.auth_profile == "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


def test_ack_relates_to_must_match_byte_for_byte() -> None:
    mid = soap.new_uuid()
    assert soap.check_ack(soap.encode_utf16(_ack(mid)), mid).relates_to == mid
    with pytest.raises(soap.SoapError):
        soap.check_ack(soap.encode_utf16(_ack(mid.lower())), mid)
    real = vector_path("wef", "openwec-05-ack-heartbeat.xml").read_bytes()
    assert soap.check_ack(real, "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"<a/>",
        b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>",
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b"\xff\xfe\x00\xd8",
    ],
)
def test_malformed_replies_raise_soap_error(body: bytes) -> None:
    for parse in (soap.parse_ack, soap.parse_enumerate_response):
        with pytest.raises(soap.SoapError):
            parse(body)


def test_wrong_action_and_pull_mode_are_refused() -> None:
    with pytest.raises(soap.SoapError):
        soap.parse_enumerate_response(_ack("uuid:X"))
    pull = _enumerate_response("uuid:B", "h:1", [], {}).replace(
        "<n:EnumerationContext/>", "<n:EnumerationContext>ctx</n:EnumerationContext>"
    )
    with pytest.raises(soap.SoapError):
        soap.parse_enumerate_response(pull)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT3600.000S", 3600.0), ("PT60.0S", 60.0), ("PT1H", 3600.0), ("P1DT1M", 86460.0), ("PT0.500S", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert soap.parse_duration(text) == seconds


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=300).map(lambda t: t.encode("utf-16-le")))
def test_any_reply_bytes_parse_or_raise_soap_error(body: bytes) -> None:
    for parse in (soap.parse_ack, soap.parse_enumerate_response):
        with contextlib.suppress(soap.SoapError):
            parse(body)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_mutated_enumerate_responses_parse_or_raise_soap_error(data: st.DataObject) -> None:
    text = _enumerate_response(
        "uuid:B",
        "h:1",
        [_sub(max_elements=5)],
        {
            "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95": '<BookmarkList><Bookmark Channel="S" '
            'RecordId="1"/></BookmarkList>'
        },
    )
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i, min(len(text), i + 40)))
    mutated = text[:i] + data.draw(st.text(max_size=10)) + text[j:]
    with contextlib.suppress(soap.SoapError):
        soap.parse_enumerate_response(mutated)
