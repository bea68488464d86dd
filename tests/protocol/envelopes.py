# SPDX-License-Identifier: GPL-3.0-or-later
"""Source → collector SOAP envelopes in the form Windows writes them (docs/protocol.md §3.2, §3.5),
with the project's own values. Compact XML, Windows' header order, the same namespace
prefixes; parameters let a test drop or bend any single piece.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from wec.protocol import ns

HOST = "wec.corp.example"
MANAGER_URL = f"http://{HOST}:5985/wsman/SubscriptionManager/WEC"
SUB_UUID = "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
SUB_URL = f"http://{HOST}:5985/wsman/subscriptions/{SUB_UUID}"
VERSION = "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12"
MACHINE = "ws042.corp.example"
BOOKMARK = (
    '<BookmarkList><Bookmark Channel="Security" RecordId="582113" IsCurrent="true"/>'
    '<Bookmark Channel="System" RecordId="90211"/></BookmarkList>'
)

_ENVELOPE_OPEN = (
    f'<s:Envelope xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" xmlns:e="{ns.EVENTING}"'
    f' xmlns:n="{ns.ENUMERATION}" xmlns:w="{ns.WSMAN}" xmlns:p="{ns.MS_WSMAN}">'
)


def message_id(n: int) -> str:
    """Deterministic, realistic-looking uppercase message ids."""
    return f"uuid:{n:08X}-5F1A-4D3C-B8E6-2A9D0F4C6B18"


def header(
    action: str,
    *,
    to: str = SUB_URL,
    mid: str | None = message_id(1),
    resource_uri: str | None = None,
    machine_id: str | None = MACHINE,
    locale: str = "en-US",
    identifier: str | None = None,
    version: str | None = None,
    revision: str | None = None,
    bookmark: str | None = None,
    ack_requested: bool = False,
    timeout: str = "PT60.000S",
) -> str:
    parts = [f"<a:To>{escape(to)}</a:To>"]
    if resource_uri is not None:
        parts.append(f'<w:ResourceURI s:mustUnderstand="true">{resource_uri}</w:ResourceURI>')
    if machine_id is not None:
        parts.append(
            f'<m:MachineID xmlns:m="{ns.MACHINE_ID}" s:mustUnderstand="false">'
            f"{escape(machine_id)}</m:MachineID>"
        )
    parts.append(f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ns.ANONYMOUS}</a:Address></a:ReplyTo>')
    parts.append(f'<a:Action s:mustUnderstand="true">{action}</a:Action>')
    parts.append('<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>')
    if mid is not None:
        parts.append(f"<a:MessageID>{mid}</a:MessageID>")
    parts.append(f'<w:Locale xml:lang="{locale}" s:mustUnderstand="false" />')
    parts.append(f'<p:DataLocale xml:lang="{locale}" s:mustUnderstand="false" />')
    parts.append(
        '<p:SessionId s:mustUnderstand="false">uuid:1B0E7C52-66D4-4F0A-9E31-7A5C2D8B4F60</p:SessionId>'
    )
    parts.append(
        '<p:OperationID s:mustUnderstand="false">uuid:C0FFEE00-1234-4ABC-8DEF-0123456789AB</p:OperationID>'
    )
    parts.append('<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>')
    parts.append(f"<w:OperationTimeout>{timeout}</w:OperationTimeout>")
    if identifier is not None:
        parts.append(f'<e:Identifier xmlns:e="{ns.EVENTING}">{escape(identifier)}</e:Identifier>')
    if version is not None:
        parts.append(f"<Version>{escape(version)}</Version>")
    if revision is not None:
        parts.append(f"<Revision>{escape(revision)}</Revision>")
    if bookmark is not None:
        parts.append(f"<w:Bookmark>{bookmark}</w:Bookmark>")
    if ack_requested:
        parts.append("<w:AckRequested/>")
    return "<s:Header>" + "".join(parts) + "</s:Header>"


def enumerate_request(*, to: str = MANAGER_URL, mid: str | None = message_id(0x10)) -> str:
    h = header(
        ns.ACTION_ENUMERATE,
        to=to,
        mid=mid,
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription",
    )
    body = (
        "<s:Body><n:Enumerate><w:OptimizeEnumeration/>"
        "<w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body>"
    )
    return _ENVELOPE_OPEN + h + body + "</s:Envelope>"


def end_request(*, mid: str = message_id(0x20)) -> str:
    h = (
        f"<s:Header><a:To>{ns.ANONYMOUS}</a:To>"
        '<w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex</w:ResourceURI>'
        f'<a:Action s:mustUnderstand="true">{ns.ACTION_END}</a:Action>'
        f"<a:MessageID>{mid}</a:MessageID>"
        "<p:OperationID>uuid:C0FFEE00-1234-4ABC-8DEF-0123456789AB</p:OperationID></s:Header>"
    )
    return _ENVELOPE_OPEN + h + "<s:Body></s:Body></s:Envelope>"


def heartbeat(
    *,
    identifier: str | None = SUB_UUID,
    version: str | None = VERSION,
    revision: str | None = None,
    mid: str | None = message_id(0x30),
) -> str:
    h = header(
        ns.ACTION_HEARTBEAT,
        mid=mid,
        identifier=identifier,
        version=version,
        revision=revision,
        ack_requested=True,
    )
    return _ENVELOPE_OPEN + h + "<s:Body><w:Events></w:Events></s:Body></s:Envelope>"


def event_xml(record_id: int, *, channel: str = "Security", event_id: int = 4624, message: str = "") -> str:
    """One Windows event as Windows renders it inside the CDATA (single-quoted attributes)."""
    rendering = (
        f"<RenderingInfo Culture='en-US'><Message>{message}</Message>"
        "<Level>Information</Level></RenderingInfo>"
        if message
        else ""
    )
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>"
        f"<EventID>{event_id}</EventID><Version>2</Version><Level>0</Level><Task>12544</Task>"
        "<Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>"
        "<TimeCreated SystemTime='2025-03-04T10:15:21.9070000Z'/>"
        f"<EventRecordID>{record_id}</EventRecordID><Correlation/>"
        "<Execution ProcessID='812' ThreadID='4410'/>"
        f"<Channel>{channel}</Channel><Computer>{MACHINE}</Computer><Security/></System>"
        "<EventData><Data Name='TargetUserName'>alice</Data><Data Name='LogonType'>3</Data></EventData>"
        f"{rendering}</Event>"
    )


def events_message(
    events: list[str],
    *,
    identifier: str | None = SUB_UUID,
    version: str | None = VERSION,
    revision: str | None = None,
    bookmark: str | None = BOOKMARK,
    mid: str | None = message_id(0x40),
) -> str:
    h = header(
        ns.ACTION_EVENTS,
        mid=mid,
        identifier=identifier,
        version=version,
        revision=revision,
        bookmark=bookmark,
        ack_requested=True,
    )
    body = "".join(
        f'<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[{e}]]></w:Event>'
        for e in events
    )
    return _ENVELOPE_OPEN + h + f"<s:Body><w:Events>{body}</w:Events></s:Body></s:Envelope>"


def subscription_end(*, mid: str = message_id(0x50), code: str = "15008", with_fault: bool = True) -> str:
    h = header(
        ns.ACTION_SUBSCRIPTION_END,
        mid=mid,
        identifier=SUB_UUID,
        version=VERSION,
        ack_requested=True,
        timeout="PT0.500S",
    )
    fault = (
        f'<f:WSManFault xmlns:f="{ns.WSMAN_FAULT}" Code="{code}" Machine="{MACHINE}"><f:Message>'
        '<f:ProviderFault provider="Event Forwarding Plugin" path="%systemroot%\\system32\\wevtfwd.dll">'
        "The subscription is being deleted.</f:ProviderFault></f:Message></f:WSManFault>"
        if with_fault
        else ""
    )
    body = (
        "<s:Body><e:SubscriptionEnd><e:SubscriptionManager>"
        f"<a:Address>{SUB_URL}</a:Address>"
        f"<a:ReferenceParameters><e:Identifier>{SUB_UUID}</e:Identifier></a:ReferenceParameters>"
        "</e:SubscriptionManager>"
        "<e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling</e:Status>"
        f"{fault}</e:SubscriptionEnd></s:Body>"
    )
    return _ENVELOPE_OPEN + h + body + "</s:Envelope>"


def all_valid_messages() -> list[str]:
    """One valid message of each kind, for mutation-based property tests."""
    return [
        enumerate_request(),
        end_request(),
        heartbeat(),
        heartbeat(revision="r12"),
        events_message([event_xml(582114), event_xml(582115, message="An account was\r\nlogged on.")]),
        events_message([event_xml(7)], bookmark=None),
        subscription_end(),
    ]


__all__ = [
    "BOOKMARK",
    "HOST",
    "MACHINE",
    "MANAGER_URL",
    "SUB_URL",
    "SUB_UUID",
    "VERSION",
    "all_valid_messages",
    "end_request",
    "enumerate_request",
    "event_xml",
    "events_message",
    "header",
    "heartbeat",
    "message_id",
    "subscription_end",
]
