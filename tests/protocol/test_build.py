# SPDX-License-Identifier: GPL-3.0-or-later
"""EnumerateResponse and Ack as docs/protocol.md §3.4/§3.6 specify them, from our own values."""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable

import pytest
from lxml import etree

from tests.protocol import envelopes as env
from wec.model import ContentFormat, OutputConfig, Subscription
from wec.protocol import (
    Enumerate,
    KerberosPolicy,
    LocalProtocolError,
    SubscriptionOffer,
    TlsPolicy,
    build_ack,
    build_enumerate_response,
    compact_query,
    ns,
    parse_message,
    parse_xml,
    subscription_version,
)

W = f"{{{ns.WSMAN}}}"
E = f"{{{ns.EVENTING}}}"
A = f"{{{ns.ADDRESSING}}}"
N = f"{{{ns.ENUMERATION}}}"
M = f"{{{ns.SUBSCRIPTION}}}"
P = f"{{{ns.MS_WSMAN}}}"
S = f"{{{ns.SOAP}}}"
C = f"{{{ns.POLICY}}}"
AUTH = f"{{{ns.AUTHENTICATION}}}"
XSI_NIL = f"{{{ns.XSI}}}nil"

QUERY = """
<QueryList>
  <!-- logons and process creation -->
  <Query Id="0" Path="Security">
    <Select Path="Security">*[System[(EventID=4624 or EventID=4688)]]</Select>
    <Suppress Path="Security">*[EventData[Data[@Name='LogonType']='5']]</Suppress>
  </Query>
  <Query Id="1"><Select Path="System">*[System[Level&lt;=3]]</Select></Query>
</QueryList>
"""
SUB_UUID = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"
ADDRESS = f"http://wec.corp.example:5985/wsman/subscriptions/{SUB_UUID.upper()}"
STORED = '<BookmarkList><Bookmark Channel="Security" RecordId="582113" IsCurrent="true"/></BookmarkList>'


def _sub(**changes: object) -> Subscription:
    base = Subscription(
        uuid=SUB_UUID,
        name="security-core",
        query=QUERY,
        outputs=(OutputConfig(driver="Files", format="Json", config={"path": "/tmp/x"}),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _offer(
    sub: Subscription | None = None,
    *,
    bookmark: str | None = None,
    policy: KerberosPolicy | TlsPolicy | None = None,
) -> SubscriptionOffer:
    sub = sub or _sub()
    return SubscriptionOffer(
        subscription=sub,
        version=subscription_version(sub),
        address=ADDRESS,
        bookmark=bookmark,
        policy=policy or KerberosPolicy(),
    )


def _request() -> Enumerate:
    msg = parse_message(env.enumerate_request())
    assert isinstance(msg, Enumerate)
    return msg


def _counter() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"uuid:00000000-0000-4000-8000-{next(numbers):012X}"


def _build(*offers: SubscriptionOffer) -> str:
    return build_enumerate_response(_request(), list(offers), message_id="uuid:RESPONSE", new_id=_counter())


def _subscribe(text: str, index: int = 0) -> etree._Element:
    root = parse_xml(text)
    subscription = root.findall(f"{S}Body/{N}EnumerateResponse/{W}Items/{M}Subscription")[index]
    return subscription


def _delivery(text: str) -> etree._Element:
    el = _subscribe(text).find(f"{S}Envelope/{S}Body/{E}Subscribe/{E}Delivery")
    assert el is not None
    return el


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


class TestOuterEnvelope:
    def test_header_in_openwec_order_without_operation_id(self) -> None:
        root = parse_xml(_build(_offer()))
        header = root.find(f"{S}Header")
        assert [c.tag for c in header] == [
            f"{A}To",
            f"{A}Action",
            f"{A}MessageID",
            f"{P}SequenceId",
            f"{A}RelatesTo",
        ]
        assert header.findtext(f"{A}To") == ns.ANONYMOUS
        assert header.findtext(f"{A}Action") == ns.ACTION_ENUMERATE_RESPONSE
        assert header.find(f"{A}Action").get(f"{S}mustUnderstand") == "true"
        assert header.findtext(f"{A}MessageID") == "uuid:RESPONSE"
        assert header.findtext(f"{P}SequenceId") == "1"
        assert header.find(f"{P}SequenceId").get(f"{S}mustUnderstand") == "false"
        assert header.findtext(f"{A}RelatesTo") == env.message_id(0x10)

    def test_relates_to_repeats_the_request_message_id_byte_for_byte(self) -> None:
        msg = parse_message(env.enumerate_request(mid="uuid:abcdef12-Mixed-Case"))
        assert isinstance(msg, Enumerate)
        text = build_enumerate_response(msg, [])
        assert "<a:RelatesTo>uuid:abcdef12-Mixed-Case</a:RelatesTo>" in text

    def test_new_message_ids_are_uppercase_uuids(self) -> None:
        text = build_enumerate_response(_request(), [_offer()])
        ids = re.findall(r"<a:MessageID>([^<]*)</a:MessageID>", text)
        assert len(ids) == 2 and len(set(ids)) == 2
        for mid in ids:
            assert re.fullmatch(
                r"uuid:[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}", mid
            )

    def test_empty_context_items_and_end_of_sequence(self) -> None:
        root = parse_xml(_build(_offer()))
        response = root.find(f"{S}Body/{N}EnumerateResponse")
        assert [c.tag for c in response] == [f"{N}EnumerationContext", f"{W}Items", f"{W}EndOfSequence"]
        context = response[0]
        assert context.text is None and len(context) == 0  # non-empty would switch Windows to Pull

    def test_no_offers_gives_empty_items(self) -> None:
        root = parse_xml(_build())
        assert len(root.find(f"{S}Body/{N}EnumerateResponse/{W}Items")) == 0

    def test_one_subscription_element_per_offer(self) -> None:
        other = _sub(uuid="0b1c2d3e-4f50-4612-8734-95a6b7c8d9e0", name="system")
        root = parse_xml(_build(_offer(), _offer(other)))
        items = root.find(f"{S}Body/{N}EnumerateResponse/{W}Items")
        names = [i.findtext(f".//{W}Option[@Name='SubscriptionName']") for i in items]
        assert names == ["security-core", "system"]

    def test_no_whitespace_between_elements(self) -> None:
        text = _build(_offer(bookmark=STORED), _offer(policy=TlsPolicy(("ab" * 20,))))
        assert re.search(r">\s+<", text) is None
        for el in parse_xml(text).iter():
            if len(el):
                assert el.text is None, el.tag
            assert el.tail is None, el.tag

    def test_only_prefixed_namespaces_are_declared(self) -> None:
        # A default xmlns would capture QueryList/BookmarkList/Version (docs/protocol.md §3.1).
        assert 'xmlns="' not in _build(_offer(bookmark=STORED))


class TestSubscribeEnvelope:
    def test_version_in_m_version_with_prefix_and_in_reference_parameters_without(self) -> None:
        offer = _offer()
        sub = _subscribe(_build(offer))
        assert sub.findtext(f"{M}Version") == f"uuid:{offer.version}"
        for refs in sub.iter(f"{A}ReferenceParameters"):
            assert [c.tag for c in refs] == [f"{E}Identifier", "Version"]
            assert refs.findtext(f"{E}Identifier") == SUB_UUID.upper()
            assert refs.findtext("Version") == offer.version

    def test_revision_reference_parameter_only_when_configured(self) -> None:
        sub = _subscribe(_build(_offer(_sub(revision="2025-03-r7"))))
        refs = list(sub.iter(f"{A}ReferenceParameters"))
        assert len(refs) == 2
        for r in refs:
            assert [c.tag for c in r] == [f"{E}Identifier", "Version", "Revision"]
            assert r.findtext("Revision") == "2025-03-r7"

    def test_subscribe_header(self) -> None:
        header = _subscribe(_build(_offer(_sub(max_envelope_size=256000)))).find(f"{S}Envelope/{S}Header")
        assert [_local(c) for c in header] == [
            "To",
            "ResourceURI",
            "ReplyTo",
            "Action",
            "MaxEnvelopeSize",
            "MessageID",
            "OperationID",
            "SequenceId",
            "OptionSet",
        ]
        assert header.findtext(f"{A}To") == ns.ANONYMOUS
        assert header.findtext(f"{W}ResourceURI") == ns.RESOURCE_EVENT_LOG
        assert header.findtext(f"{A}ReplyTo/{A}Address") == ns.ANONYMOUS
        assert header.findtext(f"{A}Action") == ns.ACTION_SUBSCRIBE
        assert header.findtext(f"{W}MaxEnvelopeSize") == "256000"
        for tag in (f"{W}ResourceURI", f"{A}ReplyTo/{A}Address", f"{A}Action", f"{W}MaxEnvelopeSize"):
            assert header.find(tag).get(f"{S}mustUnderstand") == "true"
        for tag in (f"{P}OperationID", f"{P}SequenceId"):
            assert header.find(tag).get(f"{S}mustUnderstand") == "false"

    def test_option_set_in_windows_order(self) -> None:
        options = _subscribe(_build(_offer())).findall(f".//{W}OptionSet/{W}Option")
        assert [o.get("Name") for o in options] == [
            "SubscriptionName",
            "Compression",
            "CDATA",
            "ContentFormat",
            "IgnoreChannelError",
        ]
        values = {o.get("Name"): (o.text, o.get(XSI_NIL)) for o in options}
        assert values == {
            "SubscriptionName": ("security-core", None),
            "Compression": ("SLDC", None),
            "CDATA": (None, "true"),
            "ContentFormat": ("Raw", None),
            "IgnoreChannelError": (None, "true"),
        }

    def test_read_existing_events_option_only_when_true(self) -> None:
        options = _subscribe(_build(_offer(_sub(read_existing_events=True)))).findall(f".//{W}Option")
        assert options[-1].get("Name") == "ReadExistingEvents"
        assert options[-1].get(XSI_NIL) == "true"

    def test_rendered_text_and_ignore_channel_error_off(self) -> None:
        sub = _sub(content_format=ContentFormat.RENDERED_TEXT, ignore_channel_error=False)
        options = {o.get("Name"): o for o in _subscribe(_build(_offer(sub))).findall(f".//{W}Option")}
        assert options["ContentFormat"].text == "RenderedText"
        assert options["IgnoreChannelError"].get(XSI_NIL) == "false"  # OpenWEC's spelling of "off"

    def test_end_to_and_notify_to_carry_the_address(self) -> None:
        subscribe = _subscribe(_build(_offer())).find(f"{S}Envelope/{S}Body/{E}Subscribe")
        assert [_local(c) for c in subscribe] == ["EndTo", "Delivery", "Filter", "SendBookmarks"]
        assert subscribe.findtext(f"{E}EndTo/{A}Address") == ADDRESS
        assert subscribe.findtext(f"{E}Delivery/{E}NotifyTo/{A}Address") == ADDRESS


class TestDelivery:
    def test_children_in_order_with_defaults(self) -> None:
        delivery = _delivery(_build(_offer()))
        assert delivery.get("Mode") == ns.DELIVERY_MODE_EVENTS
        assert [_local(c) for c in delivery] == [
            "Heartbeats",
            "NotifyTo",
            "ConnectionRetry",
            "MaxTime",
            "MaxEnvelopeSize",
            "ContentEncoding",
        ]
        assert delivery.findtext(f"{W}Heartbeats") == "PT3600.000S"
        retry = delivery.find(f"{W}ConnectionRetry")
        assert (retry.get("Total"), retry.text) == ("5", "PT60.0S")
        assert delivery.findtext(f"{W}MaxTime") == "PT30.000S"
        assert delivery.find(f"{W}MaxEnvelopeSize").get("Policy") == "Notify"
        assert delivery.findtext(f"{W}MaxEnvelopeSize") == "512000"
        assert delivery.findtext(f"{W}ContentEncoding") == "UTF-16"

    def test_all_options_set(self) -> None:
        sub = _sub(
            heartbeat_interval=900,
            connection_retry_count=3,
            connection_retry_interval=120,
            max_time=21600,
            max_elements=500,
            max_envelope_size=1024000,
            locale="de-DE",
            data_locale="fr-FR",
        )
        delivery = _delivery(_build(_offer(sub)))
        assert [_local(c) for c in delivery] == [
            "Heartbeats",
            "NotifyTo",
            "ConnectionRetry",
            "MaxElements",
            "MaxTime",
            "MaxEnvelopeSize",
            "Locale",
            "DataLocale",
            "ContentEncoding",
        ]
        assert delivery.findtext(f"{W}Heartbeats") == "PT900.000S"
        assert delivery.find(f"{W}ConnectionRetry").get("Total") == "3"
        assert delivery.findtext(f"{W}ConnectionRetry") == "PT120.0S"
        assert delivery.findtext(f"{W}MaxElements") == "500"
        assert delivery.findtext(f"{W}MaxTime") == "PT21600.000S"
        assert delivery.findtext(f"{W}MaxEnvelopeSize") == "1024000"
        locale, data_locale = delivery.find(f"{W}Locale"), delivery.find(f"{P}DataLocale")
        assert (locale.get(ns.XML_LANG), locale.get(f"{S}mustUnderstand"), locale.text) == (
            "de-DE",
            "false",
            None,
        )
        assert (data_locale.get(ns.XML_LANG), data_locale.get(f"{S}mustUnderstand")) == ("fr-FR", "false")

    def test_only_data_locale_set(self) -> None:
        delivery = _delivery(_build(_offer(_sub(data_locale="en-GB"))))
        assert delivery.find(f"{W}Locale") is None
        assert delivery.find(f"{P}DataLocale").get(ns.XML_LANG) == "en-GB"

    def test_kerberos_policy(self) -> None:
        policy = _delivery(_build(_offer(policy=KerberosPolicy()))).find(f"{E}NotifyTo/{C}Policy")
        alternatives = policy.findall(f"{C}ExactlyOne/{C}All")
        assert len(alternatives) == 1
        (auth,) = list(alternatives[0])
        assert auth.tag == f"{AUTH}Authentication"
        assert auth.get("Profile") == ns.PROFILE_KERBEROS
        assert len(auth) == 0

    def test_tls_policy_one_alternative_per_issuer_uppercase(self) -> None:
        thumbprints = ("6a4720a8" * 5, "0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:01:23:45:67")
        policy = _delivery(_build(_offer(policy=TlsPolicy(thumbprints)))).find(f"{E}NotifyTo/{C}Policy")
        alternatives = policy.findall(f"{C}ExactlyOne/{C}All")
        assert len(alternatives) == 2
        found = []
        for alt in alternatives:
            auth = alt.find(f"{AUTH}Authentication")
            assert auth.get("Profile") == ns.PROFILE_TLS_MUTUAL
            thumbprint = auth.find(f"{AUTH}ClientCertificate/{AUTH}Thumbprint")
            assert thumbprint.get("Role") == "issuer"
            found.append(thumbprint.text)
        assert found == ["6A4720A8" * 5, "0F1E2D3C4B5A69788796A5B4C3D2E1F001234567"]

    @pytest.mark.parametrize("thumbprints", [(), ("abc",), ("Z" * 40,), ("ab" * 21,)])
    def test_tls_policy_refuses_bad_thumbprints(self, thumbprints: tuple[str, ...]) -> None:
        with pytest.raises(LocalProtocolError):
            TlsPolicy(thumbprints)


class TestFilterAndBookmark:
    def test_query_list_is_child_markup_in_no_namespace_with_whitespace_trimmed(self) -> None:
        text = _build(_offer())
        filter_el = _subscribe(text).find(f".//{W}Filter")
        assert filter_el.get("Dialect") == ns.FILTER_DIALECT
        (query_list,) = list(filter_el)
        assert query_list.tag == "QueryList"
        assert all(etree.QName(el).namespace is None for el in query_list.iter())
        assert [q.get("Id") for q in query_list] == ["0", "1"]
        assert query_list.findtext("Query/Select") == "*[System[(EventID=4624 or EventID=4688)]]"
        assert query_list.findtext("Query/Suppress") == "*[EventData[Data[@Name='LogonType']='5']]"
        assert query_list.find("Query[@Id='1']/Select").text == "*[System[Level<=3]]"
        assert "<!--" not in text
        assert "&lt;=3" in text  # markup, re-escaped; not the query as escaped text

    def test_compact_query_keeps_text_inside_elements(self) -> None:
        q = '<QueryList>\n <Query Id="0">\n  <Select Path="A">  *  </Select>\n </Query>\n</QueryList>\n'
        assert (
            compact_query(q) == '<QueryList><Query Id="0"><Select Path="A">  *  </Select></Query></QueryList>'
        )

    @pytest.mark.parametrize(
        "query",
        [
            "not xml",
            "<Query/>",
            '<QueryList xmlns="urn:x"/>',
            "<!DOCTYPE QueryList><QueryList/>",
        ],
    )
    def test_bad_queries_are_local_errors(self, query: str) -> None:
        with pytest.raises(LocalProtocolError):
            _build(_offer(_sub(query=query)))

    def test_stored_bookmark_goes_in_verbatim_in_no_namespace(self) -> None:
        text = _build(_offer(bookmark=STORED))
        assert f"<w:Bookmark>{STORED}</w:Bookmark><w:SendBookmarks/>" in text
        bookmark = _subscribe(text).find(f".//{W}Bookmark")
        (bookmark_list,) = list(bookmark)
        assert bookmark_list.tag == "BookmarkList"
        assert bookmark_list[0].tag == "Bookmark"

    def test_stored_bookmark_wins_over_read_existing_events(self) -> None:
        text = _build(_offer(_sub(read_existing_events=True), bookmark=STORED))
        assert f"<w:Bookmark>{STORED}</w:Bookmark>" in text
        assert ns.BOOKMARK_EARLIEST not in text

    def test_no_bookmark_and_read_existing_events_gives_earliest(self) -> None:
        bookmark = _subscribe(_build(_offer(_sub(read_existing_events=True)))).find(f".//{W}Bookmark")
        assert bookmark.text == ns.BOOKMARK_EARLIEST
        assert len(bookmark) == 0

    def test_no_bookmark_and_no_read_existing_events_omits_the_element(self) -> None:
        subscribe = _subscribe(_build(_offer())).find(f".//{E}Subscribe")
        assert subscribe.find(f"{W}Bookmark") is None
        assert subscribe[-1].tag == f"{W}SendBookmarks"

    @pytest.mark.parametrize(
        "stored",
        [
            "<BookmarkList>",
            "<Other/>",
            " <BookmarkList/>",
            '<?xml version="1.0"?><BookmarkList/>',
            "<BookmarkList/><x/>",
            '<BookmarkList xmlns="urn:x"/>',
        ],
    )
    def test_damaged_stored_bookmarks_are_local_errors(self, stored: str) -> None:
        with pytest.raises(LocalProtocolError):
            _build(_offer(bookmark=stored))

    def test_bookmark_parsed_from_events_round_trips_into_subscribe(self) -> None:
        batch = parse_message(env.events_message([env.event_xml(1)]))
        text = _build(_offer(bookmark=batch.bookmark))  # type: ignore[union-attr]
        assert f"<w:Bookmark>{env.BOOKMARK}</w:Bookmark>" in text


class TestEscapingAndErrors:
    def test_markup_in_values_is_escaped(self) -> None:
        sub = _sub(name='Tom & "Jerry" <x>', revision="r<1>&")
        root = parse_xml(_build(_offer(sub)))
        assert root.findtext(f".//{W}Option[@Name='SubscriptionName']") == 'Tom & "Jerry" <x>'
        assert root.findtext(f".//{A}ReferenceParameters/Revision") == "r<1>&"

    def test_locale_attribute_is_escaped(self) -> None:
        root = parse_xml(_build(_offer(_sub(locale='x"y&\tz'))))
        assert root.find(f".//{W}Locale").get(ns.XML_LANG) == 'x"y&\tz'

    def test_control_characters_cannot_be_written(self) -> None:
        with pytest.raises(LocalProtocolError):
            _build(_offer(_sub(name="bad\x01name")))

    @pytest.mark.parametrize(
        "changes",
        [
            {"heartbeat_interval": -1},
            {"max_envelope_size": 0},
            {"max_elements": 0},
            {"connection_retry_count": -2},
        ],
    )
    def test_impossible_numbers_are_local_errors(self, changes: dict[str, int]) -> None:
        with pytest.raises(LocalProtocolError):
            _build(_offer(_sub(**changes)))

    @pytest.mark.parametrize(
        "version", ["3f2a91c0-7d4e-8b12-3f2a-91c07d4e8b12", "uuid:3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12", "x"]
    )
    def test_offer_version_must_be_an_uppercase_uuid(self, version: str) -> None:
        with pytest.raises(LocalProtocolError):
            SubscriptionOffer(_sub(), version, ADDRESS, None, KerberosPolicy())


class TestOffersRenderedOneByOne:
    def test_without_on_error_a_bad_offer_fails_the_whole_response(self) -> None:
        with pytest.raises(LocalProtocolError):
            _build(_offer(), _offer(bookmark="<BookmarkList><broken"))

    def test_with_on_error_a_bad_offer_is_reported_once_and_left_out(self) -> None:
        good = _offer()
        bad_query = _offer(_sub(uuid="0b9f6f2e-6c4d-4c1e-9a57-3d2b8e7f1a10", query="<Nope/>"))
        bad_bookmark = _offer(bookmark="<BookmarkList><broken")
        left_out: list[tuple[SubscriptionOffer, LocalProtocolError]] = []
        text = build_enumerate_response(
            _request(),
            [bad_query, good, bad_bookmark],
            message_id="uuid:RESPONSE",
            new_id=_counter(),
            on_error=lambda offer, err: left_out.append((offer, err)),
        )
        assert [offer for offer, _ in left_out] == [bad_query, bad_bookmark]
        assert all(isinstance(err, LocalProtocolError) for _, err in left_out)
        items = parse_xml(text).findall(f"{S}Body/{N}EnumerateResponse/{W}Items/{M}Subscription")
        assert len(items) == 1
        assert SUB_UUID.upper() in text

    def test_with_on_error_and_only_bad_offers_the_response_offers_nothing(self) -> None:
        text = build_enumerate_response(
            _request(),
            [_offer(bookmark="<BookmarkList><broken")],
            message_id="uuid:RESPONSE",
            new_id=_counter(),
            on_error=lambda offer, err: None,
        )
        assert "<w:Items></w:Items><w:EndOfSequence/>" in text


class TestAck:
    def test_ack_form(self) -> None:
        request = parse_message(env.heartbeat(mid="uuid:31A7E5D0-8B2C-4F69-A0D3-E4C1B7F92856"))
        text = build_ack(request.header, message_id="uuid:7C0B4E92-5F1A-4D3C-B8E6-2A9D0F4C6B18")
        assert text == (
            '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
            ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
            ' xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration"'
            ' xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"'
            ' xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header>'
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action>'
            "<a:MessageID>uuid:7C0B4E92-5F1A-4D3C-B8E6-2A9D0F4C6B18</a:MessageID>"
            '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>'
            "<a:RelatesTo>uuid:31A7E5D0-8B2C-4F69-A0D3-E4C1B7F92856</a:RelatesTo>"
            "</s:Header><s:Body/></s:Envelope>"
        )

    def test_ack_to_is_anonymous_without_reply_to(self) -> None:
        request = parse_message(env.end_request())  # End carries no ReplyTo
        root = parse_xml(build_ack(request.header))
        assert root.findtext(f"{S}Header/{A}To") == ns.ANONYMOUS

    def test_ack_echoes_a_custom_reply_to_escaped(self) -> None:
        text = env.heartbeat().replace(
            f'<a:Address s:mustUnderstand="true">{ns.ANONYMOUS}</a:Address>',
            "<a:Address>http://peer.example/reply?a=1&amp;b=2</a:Address>",
        )
        root = parse_xml(build_ack(parse_message(text).header))
        assert root.findtext(f"{S}Header/{A}To") == "http://peer.example/reply?a=1&b=2"

    def test_ack_message_ids_are_fresh(self) -> None:
        header = parse_message(env.heartbeat()).header
        assert build_ack(header) != build_ack(header)


def test_enumerate_response_reparses_with_the_hardened_parser_and_is_utf16_encodable() -> None:
    text = _build(
        _offer(bookmark=STORED), _offer(_sub(name="Überwachung — 監視"), policy=TlsPolicy(("ab" * 20,)))
    )
    wire = b"\xff\xfe" + text.encode("utf-16-le")
    assert parse_xml(wire.decode("utf-16")).tag == f"{S}Envelope"
