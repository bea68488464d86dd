# SPDX-License-Identifier: GPL-3.0-or-later
"""Protocol core throughput: parsing an Events batch and building an EnumerateResponse.

Run: ``.venv/bin/pytest bench/test_bench_protocol.py -p no:cacheprovider``. The
``lxml.etree.fromstring`` run over the same text is the floor: the gap to it is what our
parser adds (dispatch, header checks, bookmark serialisation, payload extraction).
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from wec.model import Subscription
from wec.protocol import (
    Enumerate,
    EventsBatch,
    Header,
    KerberosPolicy,
    SubscriptionOffer,
    build_enumerate_response,
    notify_address,
    ns,
    parse_message,
    subscription_version,
)

N_EVENTS = 200
SUB_UUID = "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"


def _event(record_id: int) -> str:
    # A RenderedText 4624 of realistic size (~1.9 KB, like the field's Security events).
    data = "".join(f"<Data Name='Field{i}'>value-{i}-{record_id}</Data>" for i in range(20))
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>"
        "<EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode>"
        "<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2025-03-04T10:15:21.9070000Z'/>"
        f"<EventRecordID>{record_id}</EventRecordID>"
        "<Correlation ActivityID='{00000000-0000-0000-0000-000000000000}'/>"
        "<Execution ProcessID='812' ThreadID='4410'/><Channel>Security</Channel>"
        "<Computer>ws042.corp.example</Computer><Security/></System>"
        f"<EventData>{data}</EventData><RenderingInfo Culture='en-US'><Message>An account was successfully"
        " logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18\r\n\tAccount Name:\t\tWS042$</Message>"
        "<Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>Security</Channel>"
        "<Provider>Microsoft Windows security auditing.</Provider><Keywords><Keyword>Audit Success</Keyword>"
        "</Keywords></RenderingInfo></Event>"
    )


def _events_envelope() -> str:
    body = "".join(
        f'<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[{_event(n)}]]></w:Event>'
        for n in range(1000, 1000 + N_EVENTS)
    )
    return (
        f'<s:Envelope xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" xmlns:e="{ns.EVENTING}"'
        f' xmlns:w="{ns.WSMAN}" xmlns:p="{ns.MS_WSMAN}"><s:Header>'
        f"<a:To>http://wec.corp.example:5985/wsman/subscriptions/{SUB_UUID}</a:To>"
        f'<m:MachineID xmlns:m="{ns.MACHINE_ID}" s:mustUnderstand="false">ws042.corp.example</m:MachineID>'
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ns.ANONYMOUS}</a:Address></a:ReplyTo>'
        f'<a:Action s:mustUnderstand="true">{ns.ACTION_EVENTS}</a:Action>'
        '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
        "<a:MessageID>uuid:7C0B4E92-5F1A-4D3C-B8E6-2A9D0F4C6B18</a:MessageID>"
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false" />'
        '<p:DataLocale xml:lang="en-US" s:mustUnderstand="false" />'
        '<p:OperationID s:mustUnderstand="false">uuid:C0FFEE00-1234-4ABC-8DEF-0123456789AB</p:OperationID>'
        '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>'
        "<w:OperationTimeout>PT60.000S</w:OperationTimeout>"
        f'<e:Identifier xmlns:e="{ns.EVENTING}">{SUB_UUID}</e:Identifier>'
        "<Version>3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12</Version>"
        '<w:Bookmark><BookmarkList><Bookmark Channel="Security" RecordId="1199" IsCurrent="true"/>'
        "</BookmarkList></w:Bookmark>"
        f"<w:AckRequested/></s:Header><s:Body><w:Events>{body}</w:Events></s:Body></s:Envelope>"
    )


ENVELOPE = _events_envelope()


def test_parse_events_batch(benchmark: Any) -> None:
    msg = benchmark(parse_message, ENVELOPE)
    assert isinstance(msg, EventsBatch) and len(msg.events) == N_EVENTS
    benchmark.extra_info["events_per_batch"] = N_EVENTS
    benchmark.extra_info["envelope_chars"] = len(ENVELOPE)
    benchmark.extra_info["events_per_second"] = round(N_EVENTS / benchmark.stats.stats.mean)


def test_baseline_lxml_fromstring(benchmark: Any) -> None:
    data = ENVELOPE.encode("utf-8")
    root = benchmark(etree.fromstring, data)
    assert root.tag == f"{{{ns.SOAP}}}Envelope"
    benchmark.extra_info["events_per_second"] = round(N_EVENTS / benchmark.stats.stats.mean)


@pytest.fixture(scope="module")
def offers() -> list[SubscriptionOffer]:
    result = []
    for i in range(10):
        sub = Subscription(
            uuid=f"9d4c2b7a-1e3f-4a58-8c6d-{i:012x}",
            name=f"subscription-{i}",
            query=(
                f'<QueryList><Query Id="0"><Select Path="Security">*[System[(EventID={4600 + i})]]</Select>'
                '<Select Path="System">*[System[Level&lt;=3]]</Select></Query></QueryList>'
            ),
            locale="en-US",
            revision=f"r{i}",
        )
        result.append(
            SubscriptionOffer(
                subscription=sub,
                version=subscription_version(sub),
                address=notify_address("http", "wec.corp.example", 5985, sub.uuid),
                bookmark=(
                    f'<BookmarkList><Bookmark Channel="Security" RecordId="{58000 + i}" IsCurrent="true"/>'
                    f'<Bookmark Channel="System" RecordId="{9000 + i}"/></BookmarkList>'
                ),
                policy=KerberosPolicy(),
            )
        )
    return result


def test_build_enumerate_response_10_subscriptions(benchmark: Any, offers: list[SubscriptionOffer]) -> None:
    header = Header(
        action=ns.ACTION_ENUMERATE,
        message_id="uuid:E9802257-0000-4C0D-BFA4-E81C7B1C447E",
        reply_to=ns.ANONYMOUS,
    )
    request = Enumerate(header=header)
    text = benchmark(build_enumerate_response, request, offers)
    assert text.count("<m:Subscription ") == 10
    benchmark.extra_info["response_chars"] = len(text)
