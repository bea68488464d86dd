# SPDX-License-Identifier: GPL-3.0-or-later
"""Real Windows traffic (shared/vectors/wef, read in place, never copied): our parser reads
every captured request, and what we build has the structure of Windows WEC's responses."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.protocol.trees import canonical_outer_header, normalise
from tests.support.vectors import vector_path
from wec.model import ContentFormat, Subscription
from wec.protocol import (
    End,
    Enumerate,
    EventsBatch,
    Heartbeat,
    KerberosPolicy,
    RemoteProtocolError,
    SubscriptionEnd,
    SubscriptionOffer,
    TlsPolicy,
    build_ack,
    build_enumerate_response,
    ns,
    parse_message,
    parse_xml,
    subscription_version,
)


def _read(name: str) -> str:
    path: Path = vector_path("wef", name)
    data = path.read_bytes()
    return data.decode("utf-16") if name.endswith(".utf16le.bin") else data.decode("utf-8")


class TestCapturedRequestsParse:
    def test_openwec_enumerate_exact_wire_bytes(self) -> None:
        msg = parse_message(_read("openwec-01-enumerate-request.utf16le.bin"))
        assert isinstance(msg, Enumerate)
        h = msg.header
        assert h.message_id == "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E"
        assert h.to == "http://srv.windomain.local:5985/wsman/SubscriptionManager/WEC"
        assert h.reply_to == ns.ANONYMOUS
        assert h.machine_id == "win10.windomain.local"
        assert h.max_envelope_size == 512000
        assert h.locale == "en-US" and h.data_locale == "en-US"
        assert h.operation_id == "uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4"

    def test_openwec_end(self) -> None:
        msg = parse_message(_read("openwec-03-end-request.xml"))
        assert isinstance(msg, End)
        assert msg.header.message_id == "uuid:5A622A71-B73A-426E-B1CB-048A6079EB23"
        assert msg.header.resource_uri == "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex"

    def test_openwec_heartbeat_exact_wire_bytes(self) -> None:
        msg = parse_message(_read("openwec-04-heartbeat.utf16le.bin"))
        assert isinstance(msg, Heartbeat)
        assert msg.header.identifier == "219C5353-5F3D-4CD7-A644-F6B69E57C1C1"
        assert msg.header.ack_requested
        assert msg.header.version is None  # Windows WEC hands out e:Identifier only

    def test_openwec_events_batch_of_21(self) -> None:
        text = _read("openwec-06-events-batch-21.xml")
        # Windows WEC's reference parameters carry no Version: our server refuses that...
        with pytest.raises(RemoteProtocolError) as info:
            parse_message(text)
        assert info.value.status == 400
        # ...and the lenient mode reads it.
        msg = parse_message(text, require_version=False)
        assert isinstance(msg, EventsBatch)
        assert len(msg.events) == 21
        assert msg.bookmark == (
            '<BookmarkList><Bookmark Channel="Microsoft-Windows-WinRM/Operational" '
            'RecordId="149161" IsCurrent="true"/></BookmarkList>'
        )
        record_ids = [parse_xml(e).findtext("{*}System/{*}EventRecordID") for e in msg.events]
        assert record_ids == [str(n) for n in range(149141, 149162)]
        assert all(
            e.startswith("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>")
            for e in msg.events
        )

    def test_openwec_subscription_end(self) -> None:
        msg = parse_message(_read("openwec-08-subscription-end.xml"))
        assert isinstance(msg, SubscriptionEnd)
        assert msg.status == "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling"
        assert msg.fault_code == "1717"
        assert msg.fault_machine == "win10.windomain.local"
        assert msg.fault_message == "Windows Event Forward Plugin failed to read events."
        assert msg.header.operation_id == "uuid:50485065-8F54-44F2-8525-DBCBE293E317"

    def test_openwec_end_after_subscription_end(self) -> None:
        assert isinstance(parse_message(_read("openwec-09-end-after-subscription-end.xml")), End)

    def test_owinec_enumerate_with_odd_mustunderstand(self) -> None:
        text = _read("owinec-01-enumerate-request.xml")
        assert 'mustUnderstand="true "' in text
        msg = parse_message(text)
        assert isinstance(msg, Enumerate)
        assert msg.header.machine_id == "Georgiou"
        assert msg.header.locale == "de-DE"
        assert msg.header.to == "https://picard:5986/wsman/SubscriptionManager/WEC"

    def test_owinec_heartbeat(self) -> None:
        msg = parse_message(_read("owinec-03-heartbeat.xml"))
        assert isinstance(msg, Heartbeat)
        assert msg.header.identifier == "75272085-1748-4772-B742-9B757E69AB9B"

    def test_owinec_events_111_without_bookmark(self) -> None:
        msg = parse_message(_read("owinec-05-events-bookmark-111.xml"), require_version=False)
        assert isinstance(msg, EventsBatch)
        assert msg.bookmark is None
        assert len(msg.events) == 1
        assert parse_xml(msg.events[0]).findtext("{*}System/{*}EventID") == "111"
        assert msg.header.identifier == "b2161493-b3f3-46b4-a48f-11c719b5b828"

    @pytest.mark.parametrize(
        "name",
        [
            "openwec-02-enumerate-response.xml",
            "owinec-02-enumerate-response.xml",
            "openwec-05-ack-heartbeat.xml",
        ],
    )
    def test_collector_responses_are_not_requests(self, name: str) -> None:
        with pytest.raises(RemoteProtocolError):
            parse_message(_read(name))


# --- our responses against Windows WEC's ------------------------------------------------------

_QUERY = '<QueryList><Query Id="0"><Select Path="Application">*</Select></Query></QueryList>'


def _windows_form(text: str) -> etree._Element:
    """Windows WEC's response with the documented differences applied (docs/protocol.md §3.4)."""
    root = parse_xml(text)
    canonical_outer_header(root)
    for subscribe_header in root.iter(ns.S_HEADER):
        if subscribe_header.getparent() is root:
            continue
        # Windows puts w:Locale/p:DataLocale in the Subscribe header; OpenWEC and wec do not.
        for child in list(subscribe_header):
            if child.tag in (ns.W_LOCALE, ns.P_DATA_LOCALE):
                subscribe_header.remove(child)
    # ReferenceProperties{Identifier=version} → ReferenceParameters{Identifier=uuid, Version}.
    for refs in list(root.iter(ns.A_REFERENCE_PROPERTIES)):
        refs.tag = ns.A_REFERENCE_PARAMETERS
        etree.SubElement(refs, ns.VERSION).text = "x"
    root.set(ns.XML_LANG, "en-US")  # Windows writes its own locale (e.g. en-AT); we en-US
    return root


def _ours(policy: KerberosPolicy | TlsPolicy, bookmark: str | None) -> etree._Element:
    # Options chosen to equal those of the captured subscriptions; every value is our own.
    sub = Subscription(
        uuid="9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
        name="own-subscription",
        query=_QUERY,
        content_format=ContentFormat.RENDERED_TEXT,
        locale="en-US",
        data_locale="en-US",
    )
    offer = SubscriptionOffer(
        subscription=sub,
        version=subscription_version(sub),
        address="http://wec.corp.example:5985/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
        bookmark=bookmark,
        policy=policy,
    )
    request = parse_message(_read("openwec-01-enumerate-request.utf16le.bin"))
    assert isinstance(request, Enumerate)
    root = parse_xml(build_enumerate_response(request, [offer]))
    canonical_outer_header(root)
    return root


def test_kerberos_enumerate_response_has_windows_structure() -> None:
    windows = _windows_form(_read("openwec-02-enumerate-response.xml"))
    ours = _ours(
        KerberosPolicy(), '<BookmarkList><Bookmark Channel="Application" RecordId="7"/></BookmarkList>'
    )
    assert normalise(ours) == normalise(windows)


def test_tls_enumerate_response_has_windows_structure() -> None:
    windows = _windows_form(_read("owinec-02-enumerate-response.xml"))
    ours = _ours(TlsPolicy(("AB" * 20, "cd" * 20)), None)
    assert normalise(ours) == normalise(windows)


@pytest.mark.parametrize("name", ["openwec-05-ack-heartbeat.xml", "openwec-07-ack-events.xml"])
def test_ack_has_windows_structure(name: str) -> None:
    windows = parse_xml(_read(name))
    canonical_outer_header(windows)
    request = parse_message(_read("openwec-04-heartbeat.utf16le.bin"))
    ours = parse_xml(build_ack(request.header))
    canonical_outer_header(ours)
    assert normalise(ours) == normalise(windows)


def test_ack_relates_to_the_captured_heartbeat_byte_for_byte() -> None:
    request = parse_message(_read("openwec-04-heartbeat.utf16le.bin"))
    ack = build_ack(request.header)
    assert "<a:RelatesTo>uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:RelatesTo>" in ack
