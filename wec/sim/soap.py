# SPDX-License-Identifier: GPL-3.0-or-later
"""WS-Management messages as a Windows source writes them, and the collector replies it reads.

This is the simulator's own, independent implementation (it must not share code with the
server's ``wec.protocol``, so that a bug there cannot hide itself in both ends).

Builders return compact XML text (no whitespace between elements, docs/protocol.md §3.2) with the
header elements in Windows' order; :func:`encode_utf16` gives the wire form, UTF-16LE with a
BOM (docs/protocol.md §3.8). Parsers take the decrypted body bytes and raise :class:`SoapError` on
anything malformed, never another exception type.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

__all__ = [
    "ANONYMOUS",
    "EARLIEST",
    "Ack",
    "BookmarkState",
    "EnumerateResponse",
    "OfferedSubscription",
    "RefParam",
    "SoapError",
    "bookmark_list_xml",
    "build_end",
    "build_enumerate",
    "build_events",
    "build_heartbeat",
    "build_subscription_end",
    "check_ack",
    "decode_body",
    "encode_utf16",
    "new_uuid",
    "parse_ack",
    "parse_duration",
    "parse_enumerate_response",
]

NS_S: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_A: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_E: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
NS_N: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
NS_W: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_P: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
NS_B: Final = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
NS_MACHINE: Final = "http://schemas.microsoft.com/wbem/wsman/1/machineid"
NS_SUB: Final = "http://schemas.microsoft.com/wbem/wsman/1/subscription"
NS_POLICY: Final = "http://schemas.xmlsoap.org/ws/2002/12/policy"
NS_AUTH: Final = "http://schemas.microsoft.com/wbem/wsman/1/authentication"
NS_FAULT: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"

ANONYMOUS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
EARLIEST: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
ACTION_ENUMERATE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
ACTION_ENUMERATE_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"
ACTION_END: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
ACTION_HEARTBEAT: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
ACTION_EVENTS: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
ACTION_ACK: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"
ACTION_SUBSCRIPTION_END: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
EVENT_ACTION: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"
RESOURCE_SUBSCRIPTION: Final = "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
RESOURCE_FULL_DUPLEX: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex"
SOURCE_CANCELLING: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling"

_ENVELOPE_ENUM: Final = (
    f'<s:Envelope xmlns:s="{NS_S}" xmlns:a="{NS_A}" xmlns:n="{NS_N}" xmlns:w="{NS_W}" xmlns:p="{NS_P}" '
    f'xmlns:b="{NS_B}">'
)
_ENVELOPE_END: Final = f'<s:Envelope xmlns:s="{NS_S}" xmlns:a="{NS_A}" xmlns:w="{NS_W}" xmlns:p="{NS_P}">'
_ENVELOPE_EVENTS: Final = (
    f'<s:Envelope xmlns:s="{NS_S}" xmlns:a="{NS_A}" xmlns:e="{NS_E}" xmlns:w="{NS_W}" xmlns:p="{NS_P}">'
)


class SoapError(Exception):
    """A collector reply we cannot accept (malformed XML, a missing element, a wrong RelatesTo)."""


def new_uuid() -> str:
    """``uuid:`` + UPPERCASE UUID, as Windows writes MessageID/SessionId/OperationID (MS-WSMV §3.1.4.1.5)."""
    return "uuid:" + str(uuid.uuid4()).upper()


def encode_utf16(xml: str) -> bytes:
    """The wire form of every message, both directions: BOM ``FF FE`` + UTF-16LE (docs/protocol.md §3.8)."""
    return b"\xff\xfe" + xml.encode("utf-16-le", "surrogatepass")


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;")


@dataclass(frozen=True, slots=True)
class RefParam:
    """One child of ``a:ReferenceParameters`` (or Windows WEC's ``a:ReferenceProperties``): the
    source echoes each one as a SOAP header on Heartbeat/Events/SubscriptionEnd (WS-Addressing)."""

    namespace: str | None
    name: str
    value: str

    def to_xml(self) -> str:
        if self.namespace is None:
            return f"<{self.name}>{_text(self.value)}</{self.name}>"
        prefix = "e" if self.namespace == NS_E else "x"
        # Windows re-declares the prefix on the echoed element.
        return (
            f'<{prefix}:{self.name} xmlns:{prefix}="{_attr(self.namespace)}">{_text(self.value)}'
            f"</{prefix}:{self.name}>"
        )


def _common_header(
    to: str,
    machine_id: str,
    action: str,
    message_id: str,
    locale: str,
    data_locale: str,
    session_id: str,
    operation_id: str,
    timeout: str,
    max_envelope_size: int,
    resource_uri: str | None = None,
) -> list[str]:
    # docs/protocol.md §3.2: To, [ResourceURI], MachineID, ReplyTo, Action, MaxEnvelopeSize, MessageID,
    # Locale, DataLocale, SessionId, OperationID, SequenceId, OperationTimeout.
    parts = [f"<s:Header><a:To>{_text(to)}</a:To>"]
    if resource_uri:
        parts.append(f'<w:ResourceURI s:mustUnderstand="true">{resource_uri}</w:ResourceURI>')
    parts.append(
        f'<m:MachineID xmlns:m="{NS_MACHINE}" s:mustUnderstand="false">{_text(machine_id)}</m:MachineID>'
        f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ANONYMOUS}</a:Address></a:ReplyTo>'
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        f'<w:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope_size}</w:MaxEnvelopeSize>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f'<w:Locale xml:lang="{_attr(locale)}" s:mustUnderstand="false" />'
        f'<p:DataLocale xml:lang="{_attr(data_locale)}" s:mustUnderstand="false" />'
        f'<p:SessionId s:mustUnderstand="false">{session_id}</p:SessionId>'
        f'<p:OperationID s:mustUnderstand="false">{operation_id}</p:OperationID>'
        f'<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>'
        f"<w:OperationTimeout>{timeout}</w:OperationTimeout>"
    )
    return parts


def build_enumerate(
    to: str,
    machine_id: str,
    message_id: str,
    session_id: str,
    operation_id: str,
    locale: str = "en-US",
    data_locale: str = "en-US",
    max_envelope_size: int = 512000,
) -> str:
    """Enumerate to the Subscription Manager URL (docs/protocol.md §3.3)."""
    parts = [_ENVELOPE_ENUM]
    parts += _common_header(
        to,
        machine_id,
        ACTION_ENUMERATE,
        message_id,
        locale,
        data_locale,
        session_id,
        operation_id,
        "PT60.000S",
        max_envelope_size,
        RESOURCE_SUBSCRIPTION,
    )
    parts.append(
        "</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>"
        "</n:Enumerate></s:Body></s:Envelope>"
    )
    return "".join(parts)


def build_end(message_id: str, operation_id: str) -> str:
    """End: closes an Enumerate exchange, or follows a SubscriptionEnd (docs/protocol.md §3.5).

    Its header is short: To (anonymous), ResourceURI, Action, MessageID and the OperationID of
    the exchange it ends, without mustUnderstand.
    """
    return (
        f"{_ENVELOPE_END}<s:Header><a:To>{ANONYMOUS}</a:To>"
        f'<w:ResourceURI s:mustUnderstand="true">{RESOURCE_FULL_DUPLEX}</w:ResourceURI>'
        f'<a:Action s:mustUnderstand="true">{ACTION_END}</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID><p:OperationID>{operation_id}</p:OperationID>"
        "</s:Header><s:Body></s:Body></s:Envelope>"
    )


def bookmark_list_xml(positions: Mapping[str, int], current: str | None = None) -> str:
    """``<BookmarkList>`` in no namespace, one Bookmark per channel (docs/protocol.md §3.5).

    ``IsCurrent="true"`` marks the channel of the last event read (``current``); Windows
    writes the attributes double-quoted inside ``w:Bookmark``.
    """
    if current is None and positions:
        current = next(iter(positions))
    items = []
    for channel, record_id in positions.items():
        flag = ' IsCurrent="true"' if channel == current else ""
        items.append(f'<Bookmark Channel="{_attr(channel)}" RecordId="{record_id}"{flag}/>')
    return "<BookmarkList>" + "".join(items) + "</BookmarkList>"


def _cdata(xml: str) -> str:
    # A literal "]]>" inside an event would end the section early: split it across two sections.
    return "<![CDATA[" + xml.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _stream_header(
    to: str,
    machine_id: str,
    action: str,
    message_id: str,
    refs: Sequence[RefParam],
    locale: str,
    data_locale: str,
    session_id: str,
    operation_id: str,
    timeout: str,
    max_envelope_size: int,
) -> list[str]:
    parts = _common_header(
        to,
        machine_id,
        action,
        message_id,
        locale,
        data_locale,
        session_id,
        operation_id,
        timeout,
        max_envelope_size,
    )
    parts.extend(r.to_xml() for r in refs)
    return parts


def build_heartbeat(
    to: str,
    machine_id: str,
    message_id: str,
    refs: Sequence[RefParam],
    session_id: str,
    operation_id: str,
    locale: str = "en-US",
    data_locale: str = "en-US",
    max_envelope_size: int = 512000,
) -> str:
    """Heartbeat: the stream header plus an empty ``w:Events`` body."""
    parts = [_ENVELOPE_EVENTS]
    parts += _stream_header(
        to,
        machine_id,
        ACTION_HEARTBEAT,
        message_id,
        refs,
        locale,
        data_locale,
        session_id,
        operation_id,
        "PT60.000S",
        max_envelope_size,
    )
    parts.append("<w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>")
    return "".join(parts)


def build_events(
    to: str,
    machine_id: str,
    message_id: str,
    refs: Sequence[RefParam],
    events: Sequence[str],
    bookmark_xml: str | None,
    session_id: str,
    operation_id: str,
    locale: str = "en-US",
    data_locale: str = "en-US",
    max_envelope_size: int = 512000,
) -> str:
    """Events: the stream header, ``w:Bookmark`` (when given), ``w:AckRequested``, then one
    ``w:Event`` per event with its XML as CDATA (docs/protocol.md §3.5)."""
    parts = [_ENVELOPE_EVENTS]
    parts += _stream_header(
        to,
        machine_id,
        ACTION_EVENTS,
        message_id,
        refs,
        locale,
        data_locale,
        session_id,
        operation_id,
        "PT60.000S",
        max_envelope_size,
    )
    if bookmark_xml is not None:
        parts.append(f"<w:Bookmark>{bookmark_xml}</w:Bookmark>")
    parts.append("<w:AckRequested/></s:Header><s:Body><w:Events>")
    for ev in events:
        parts.append(f'<w:Event Action="{EVENT_ACTION}">{_cdata(ev)}</w:Event>')
    parts.append("</w:Events></s:Body></s:Envelope>")
    return "".join(parts)


def build_subscription_end(
    to: str,
    machine_id: str,
    message_id: str,
    refs: Sequence[RefParam],
    manager_address: str,
    session_id: str,
    operation_id: str,
    code: int = 1717,
    reason: str = "Windows Event Forward Plugin failed to read events.",
    locale: str = "en-US",
    data_locale: str = "en-US",
    max_envelope_size: int = 512000,
) -> str:
    """SubscriptionEnd to the EndTo address, with ``OperationTimeout PT0.500S``."""
    parts = [_ENVELOPE_EVENTS]
    parts += _stream_header(
        to,
        machine_id,
        ACTION_SUBSCRIPTION_END,
        message_id,
        refs,
        locale,
        data_locale,
        session_id,
        operation_id,
        "PT0.500S",
        max_envelope_size,
    )
    ident = next((r for r in refs if r.name == "Identifier"), None)
    ref_props = (
        f"<a:ReferenceProperties><e:Identifier>{_text(ident.value)}</e:Identifier></a:ReferenceProperties>"
        if ident
        else ""
    )
    parts.append(
        "<w:AckRequested/></s:Header><s:Body><e:SubscriptionEnd><e:SubscriptionManager>"
        f"<a:Address>{_text(manager_address)}</a:Address>{ref_props}</e:SubscriptionManager>"
        f"<e:Status>{SOURCE_CANCELLING}</e:Status>"
        f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{code}" Machine="{_attr(machine_id)}"><f:Message>'
        f'<f:ProviderFault provider="Unknown provider" path="Unknown path">'
        f'<t:ProviderError xmlns:t="http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog">{_text(reason)}'
        "</t:ProviderError></f:ProviderFault></f:Message></f:WSManFault></e:SubscriptionEnd></s:Body></s:Envelope>"
    )
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Parsing collector replies


def _parser() -> etree.XMLParser:
    # No entities, no DTD, no network, bounded tree: the reply is untrusted input.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def decode_body(body: bytes) -> str:
    """Text of a decrypted body: sniff the BOM (UTF-16LE, UTF-16BE, UTF-8), none → UTF-16LE."""
    try:
        if body.startswith(b"\xff\xfe"):
            return body[2:].decode("utf-16-le")
        if body.startswith(b"\xfe\xff"):
            return body[2:].decode("utf-16-be")
        if body.startswith(b"\xef\xbb\xbf"):
            return body[3:].decode("utf-8")
        if body[:1] == b"<":
            return body.decode("utf-8")
        return body.decode("utf-16-le")
    except UnicodeDecodeError as err:
        raise SoapError(f"undecodable body: {err}") from err


def _parse_xml(body: bytes | str) -> etree._Element:
    text = decode_body(body) if isinstance(body, bytes) else body
    if not text.strip():
        raise SoapError("empty body")
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except (etree.XMLSyntaxError, ValueError) as err:
        raise SoapError(f"unparsable XML: {err}") from err
    if root is None or root.tag != f"{{{NS_S}}}Envelope":
        raise SoapError("not a SOAP 1.2 envelope")
    return root


def _child(el: etree._Element, ns: str | None, name: str) -> etree._Element | None:
    tag = f"{{{ns}}}{name}" if ns else name
    for c in el:
        if c.tag == tag:
            return c
    return None


def _need(el: etree._Element, ns: str | None, name: str) -> etree._Element:
    c = _child(el, ns, name)
    if c is None:
        raise SoapError(f"missing element {name} in {etree.QName(el).localname}")
    return c


def _txt(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


def _header_value(header: etree._Element, ns: str, name: str) -> str:
    v = _txt(_child(header, ns, name))
    if not v:
        raise SoapError(f"missing header {name}")
    return v


_DURATION_RE: Final = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")


def parse_duration(text: str) -> float:
    """Seconds of an xs:duration as used by WS-Management (``PT3600.000S``, ``PT60.0S``, ``PT1H``)."""
    m = _DURATION_RE.match(text.strip())
    if m is None or text.strip() in ("P", "PT"):
        raise SoapError(f"bad duration {text!r}")
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


@dataclass(frozen=True, slots=True)
class BookmarkState:
    """What a Subscribe says about where to start (docs/protocol.md §3.4.4)."""

    earliest: bool = False  # the …/bookmark/earliest text: replay from the first event
    positions: Mapping[str, int] = field(default_factory=dict)  # channel -> last delivered RecordId
    raw: str | None = None  # the BookmarkList XML as received; None when absent or earliest


@dataclass(frozen=True, slots=True)
class OfferedSubscription:
    """One ``m:Subscription`` of an EnumerateResponse, reduced to what a source acts on."""

    version: str  # m:Version, verbatim (e.g. "uuid:3F2A…")
    name: str | None  # OptionSet SubscriptionName
    notify_to: str
    end_to: str | None
    refs: tuple[RefParam, ...]  # NotifyTo reference parameters, echoed as headers
    heartbeat_s: float
    max_time_s: float | None
    max_elements: int | None
    max_envelope_size: int
    connection_retry_total: int | None
    connection_retry_interval_s: float | None
    content_format: str  # "Raw" | "RenderedText"
    compression: bool  # OptionSet Compression=SLDC
    read_existing_events: bool
    query: str | None  # the QueryList XML
    channels: tuple[str, ...]  # Select/@Path values of the query, in order
    bookmark: BookmarkState
    auth_profile: str | None  # c:Policy auth:Authentication/@Profile
    locale: str | None
    data_locale: str | None
    # TLS: the auth:Thumbprint Role="issuer" values of the Policy (the CA a source's client
    # certificate must come from)
    issuer_thumbprints: tuple[str, ...] = ()

    def ref(self, name: str) -> str | None:
        return next((r.value for r in self.refs if r.name == name), None)


@dataclass(frozen=True, slots=True)
class EnumerateResponse:
    message_id: str
    relates_to: str
    subscriptions: tuple[OfferedSubscription, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    message_id: str | None
    relates_to: str


def _refs(endpoint: etree._Element) -> tuple[RefParam, ...]:
    container = _child(endpoint, NS_A, "ReferenceParameters")
    if container is None:
        container = _child(endpoint, NS_A, "ReferenceProperties")
    if container is None:
        return ()
    out = []
    for c in container:
        if not isinstance(c.tag, str):
            continue
        q = etree.QName(c)
        out.append(RefParam(q.namespace, q.localname, (c.text or "").strip()))
    return tuple(out)


def _options(header: etree._Element) -> dict[str, str | None]:
    opts: dict[str, str | None] = {}
    option_set = _child(header, NS_W, "OptionSet")
    if option_set is None:
        return opts
    for o in option_set:
        if o.tag == f"{{{NS_W}}}Option":
            name = o.get("Name")
            if name:
                nil = o.get("{http://www.w3.org/2001/XMLSchema-instance}nil")
                opts[name] = "" if nil == "true" else (o.text or "").strip()
    return opts


def _bookmark(subscribe: etree._Element) -> BookmarkState:
    bm = _child(subscribe, NS_W, "Bookmark")
    if bm is None:
        return BookmarkState()
    bl = _child(bm, None, "BookmarkList")
    if bl is None:
        if (bm.text or "").strip() == EARLIEST:
            return BookmarkState(earliest=True)
        raise SoapError("w:Bookmark holds neither a BookmarkList nor the earliest URI")
    positions: dict[str, int] = {}
    for b in bl:
        if b.tag != "Bookmark":
            continue
        channel, record = b.get("Channel"), b.get("RecordId")
        if channel is None or record is None or not record.strip().isdigit():
            raise SoapError("a Bookmark needs Channel and a numeric RecordId")
        positions[channel] = int(record)
    return BookmarkState(positions=positions, raw=_serialize(bl))


def _serialize(el: etree._Element) -> str:
    """An element's XML without the namespace declarations it merely inherited."""
    copy = deepcopy(el)
    copy.tail = None
    etree.cleanup_namespaces(copy)
    return str(etree.tostring(copy, encoding="unicode"))


def _optional_int(el: etree._Element | None) -> int | None:
    t = _txt(el)
    if t is None:
        return None
    if not t.isdigit():
        raise SoapError(f"not an integer: {t!r}")
    return int(t)


def _subscription(item: etree._Element) -> OfferedSubscription:
    version = _txt(_child(item, NS_SUB, "Version"))
    if not version:
        raise SoapError("m:Subscription without m:Version")
    env = _need(item, NS_S, "Envelope")
    header = _need(env, NS_S, "Header")
    subscribe = _need(_need(env, NS_S, "Body"), NS_E, "Subscribe")
    delivery = _need(subscribe, NS_E, "Delivery")
    notify = _need(delivery, NS_E, "NotifyTo")
    notify_to = _txt(_need(notify, NS_A, "Address"))
    if not notify_to:
        raise SoapError("empty NotifyTo address")
    end_to_el = _child(subscribe, NS_E, "EndTo")
    end_to = _txt(_child(end_to_el, NS_A, "Address")) if end_to_el is not None else None
    opts = _options(header)
    hb = _txt(_child(delivery, NS_W, "Heartbeats"))
    max_time = _txt(_child(delivery, NS_W, "MaxTime"))
    retry = _child(delivery, NS_W, "ConnectionRetry")
    retry_total = retry.get("Total") if retry is not None else None
    mes = (
        _optional_int(_child(delivery, NS_W, "MaxEnvelopeSize"))
        or _optional_int(_child(header, NS_W, "MaxEnvelopeSize"))
        or 512000
    )
    query = None
    channels: list[str] = []
    flt = _child(subscribe, NS_W, "Filter")
    if flt is not None:
        ql = _child(flt, None, "QueryList")
        if ql is not None:
            query = _serialize(ql)
            channels = [p for p in (s.get("Path") for s in ql.iter("Select")) if p]
    profile = None
    thumbprints: list[str] = []
    policy = _child(notify, NS_POLICY, "Policy")
    if policy is not None:
        auth = next(policy.iter(f"{{{NS_AUTH}}}Authentication"), None)
        profile = auth.get("Profile") if auth is not None else None
        thumbprints = [
            (t.text or "").strip()
            for t in policy.iter(f"{{{NS_AUTH}}}Thumbprint")
            if t.get("Role") == "issuer"
        ]
    loc = _child(delivery, NS_W, "Locale")
    dloc = _child(delivery, NS_P, "DataLocale")
    try:
        return OfferedSubscription(
            version=version,
            name=opts.get("SubscriptionName"),
            issuer_thumbprints=tuple(thumbprints),
            notify_to=notify_to,
            end_to=end_to,
            refs=_refs(notify),
            heartbeat_s=parse_duration(hb) if hb else 3600.0,
            max_time_s=parse_duration(max_time) if max_time else None,
            max_elements=_optional_int(_child(delivery, NS_W, "MaxElements")),
            max_envelope_size=mes,
            connection_retry_total=int(retry_total) if retry_total and retry_total.isdigit() else None,
            connection_retry_interval_s=parse_duration(retry.text or "")
            if retry is not None and retry.text
            else None,
            content_format=opts.get("ContentFormat") or "Raw",
            compression=(opts.get("Compression") or "").upper() == "SLDC",
            read_existing_events="ReadExistingEvents" in opts,
            query=query,
            channels=tuple(dict.fromkeys(channels)),
            bookmark=_bookmark(subscribe),
            auth_profile=profile,
            locale=loc.get(f"{{{NS_XML}}}lang") if loc is not None else None,
            data_locale=dloc.get(f"{{{NS_XML}}}lang") if dloc is not None else None,
        )
    except ValueError as err:
        raise SoapError(str(err)) from err


def parse_enumerate_response(body: bytes | str) -> EnumerateResponse:
    """The subscriptions a collector offers (docs/protocol.md §3.4)."""
    root = _parse_xml(body)
    header = _need(root, NS_S, "Header")
    action = _header_value(header, NS_A, "Action")
    if action != ACTION_ENUMERATE_RESPONSE:
        raise SoapError(f"unexpected action {action!r}")
    resp = _need(_need(root, NS_S, "Body"), NS_N, "EnumerateResponse")
    ctx = _child(resp, NS_N, "EnumerationContext")
    if ctx is not None and (ctx.text or "").strip():
        # A non-empty context would ask for Pull mode, which sources use only for real WEC (docs/protocol.md
        # §3.4).
        raise SoapError("non-empty EnumerationContext (pull mode) is not supported")
    items = _child(resp, NS_W, "Items")
    subs = (
        tuple(_subscription(i) for i in items if i.tag == f"{{{NS_SUB}}}Subscription")
        if items is not None
        else ()
    )
    return EnumerateResponse(
        message_id=_txt(_child(header, NS_A, "MessageID")) or "",
        relates_to=_header_value(header, NS_A, "RelatesTo"),
        subscriptions=subs,
    )


def parse_ack(body: bytes | str) -> Ack:
    """An Ack (docs/protocol.md §3.6)."""
    root = _parse_xml(body)
    header = _need(root, NS_S, "Header")
    action = _header_value(header, NS_A, "Action")
    if action != ACTION_ACK:
        raise SoapError(f"unexpected action {action!r}")
    return Ack(
        message_id=_txt(_child(header, NS_A, "MessageID")),
        relates_to=_header_value(header, NS_A, "RelatesTo"),
    )


def check_ack(body: bytes | str, request_message_id: str) -> Ack:
    """Parse an Ack and require ``RelatesTo`` to repeat the request's MessageID byte for byte
    (the comparison is case-sensitive, MS-WSMV §3.1.4.1.5)."""
    ack = parse_ack(body)
    if ack.relates_to != request_message_id:
        raise SoapError(f"Ack RelatesTo {ack.relates_to!r} != request MessageID {request_message_id!r}")
    return ack
