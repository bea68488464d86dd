# SPDX-License-Identifier: GPL-3.0-or-later
"""Windows subscription XML (``wecutil gs NAME /format:xml``, ``wecutil cs FILE``), both ways.

What a Windows export looks like (UTF-16 with a BOM; values in **milliseconds**)::

    <Subscription xmlns="http://schemas.microsoft.com/2006/03/windows/events/subscription">
      <SubscriptionId>Security</SubscriptionId>
      <SubscriptionType>SourceInitiated</SubscriptionType>
      <Enabled>true</Enabled>
      <Uri>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog</Uri>
      <ConfigurationMode>Custom</ConfigurationMode>
      <Delivery Mode="Push">
        <Batching><MaxItems>5</MaxItems><MaxLatencyTime>900000</MaxLatencyTime></Batching>
        <PushSettings><Heartbeat Interval="900000"/></PushSettings>
      </Delivery>
      <Query><![CDATA[<QueryList>…</QueryList>]]></Query>
      <ReadExistingEvents>false</ReadExistingEvents>
      <TransportName>HTTP</TransportName>
      <ContentFormat>RenderedText</ContentFormat>
      <Locale Language="en-US"/>
      <LogFile>ForwardedEvents</LogFile>
      <AllowedSourceDomainComputers>O:NSG:BAD:P(A;;GA;;;DC)S:</AllowedSourceDomainComputers>
    </Subscription>

Mapping onto wec (docs/protocol.md §7.1): ``SubscriptionId`` → name, ``MaxLatencyTime`` → max_time,
``MaxItems`` → max_elements, ``Heartbeat/@Interval`` → heartbeat_interval (ms → s, rounded up),
``Query`` → query, ``ReadExistingEvents``, ``ContentFormat`` (``Events`` = Raw),
``Locale/@Language`` → locale, ``Enabled``. Without explicit ``Delivery`` values the
``ConfigurationMode`` preset applies.

Ignored, with a warning: ``AllowedSourceDomainComputers`` (an SDDL of AD groups: GSSAPI does not
give wec the PAC, so use a client ``[filter]``), ``AllowedSourceNonDomainComputers``, a pull
``Delivery`` mode, a non-standard ``Uri``, and elements this module does not know. ``Uri`` is
*not* wec's ``uri`` option: it names the WS-Management resource (the event log) on Windows.
A Windows subscription has no outputs, no uuid and no client filter: the import gets a fresh
uuid and no outputs (it is not offered until it has one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lxml import etree

from accel.bom import sniff_bom
from wec.model import ContentFormat, Subscription
from wec.subscriptions.presets import preset_values
from wec.subscriptions.query import QueryError, parse_query
from wec.xmlparser import hardened_parser

__all__ = [
    "EVENTLOG_URI",
    "WINDOWS_NS",
    "WecutilError",
    "WindowsImport",
    "dump_windows",
    "parse_windows",
]

WINDOWS_NS = "http://schemas.microsoft.com/2006/03/windows/events/subscription"
EVENTLOG_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
# What the Event Viewer writes for "Domain Computers" (and Domain Controllers); written on
# export so that `wecutil cs` accepts the file as is. wec itself never reads it.
_DEFAULT_SDDL = "O:NSG:BAD:P(A;;GA;;;DC)(A;;GA;;;DD)S:"

# Elements of a wecutil export that have no wec counterpart and are dropped silently: they
# describe where the *Windows* collector stores events, or are informational only.
_SILENT = frozenset(
    {"Description", "TransportName", "TransportPort", "LogFile", "PublisherName", "Expires",
     "CredentialsType", "CommonUserName", "CommonPassword", "HostName", "DeliveryMode"}
)  # fmt: skip


class WecutilError(ValueError):
    """The document is not a usable Windows subscription; the message says why."""


@dataclass(frozen=True)
class WindowsImport:
    subscription: Subscription
    warnings: tuple[str, ...]


def _decode(data: bytes) -> str:
    # wecutil writes UTF-16LE with a BOM; files edited by hand may be UTF-8 (docs/protocol.md §3.8).
    bom = sniff_bom(data)
    if bom is not None:
        return data[bom.length :].decode(bom.encoding)
    if len(data) >= 2 and data[0] == 0x3C and data[1] == 0:  # '<' of UTF-16LE without a BOM
        return data.decode("utf-16-le")
    return data.decode("utf-8")


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    for el in parent:
        if isinstance(el.tag, str) and _local(el) == name:
            return el
    return None


def _bool(value: str, where: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise WecutilError(f"{where} must be true or false, not {value!r}")


def _millis(value: str | None, where: str) -> int | None:
    """Milliseconds → whole seconds, rounded up and at least 1 (wec's options are seconds)."""
    if value is None or value == "":
        return None
    try:
        ms = int(value.strip())
    except ValueError:
        raise WecutilError(f"{where} must be a number of milliseconds, not {value!r}") from None
    if ms <= 0:
        raise WecutilError(f"{where} must be positive, not {ms}")
    return max(1, math.ceil(ms / 1000))


def _int(value: str | None, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value.strip())
    except ValueError:
        raise WecutilError(f"{where} must be an integer, not {value!r}") from None
    if n <= 0:
        raise WecutilError(f"{where} must be positive, not {n}")
    return n


def parse_windows(data: bytes | str, *, uuid: str | None = None, source: str = "<xml>") -> WindowsImport:
    """Read a ``wecutil gs /format:xml`` document; raises :class:`WecutilError`."""
    try:
        text = _decode(data) if isinstance(data, bytes) else data
    except UnicodeDecodeError as err:
        raise WecutilError(f"{source}: cannot decode: {err}") from err
    # lxml refuses str input that declares an encoding; the text is already decoded.
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :] if end >= 0 else text
    try:
        root = etree.fromstring(text.strip().encode("utf-8"), hardened_parser())
    except etree.XMLSyntaxError as err:
        raise WecutilError(f"{source}: not well-formed XML: {err}") from err
    if root.getroottree().docinfo.doctype:
        raise WecutilError(f"{source}: a DOCTYPE is not allowed")
    if _local(root) != "Subscription":
        raise WecutilError(f"{source}: the root must be <Subscription>, not <{_local(root)}>")
    ns = etree.QName(root).namespace
    if ns not in (None, WINDOWS_NS):
        raise WecutilError(f"{source}: unexpected namespace {ns!r} (expected {WINDOWS_NS})")

    warnings: list[str] = []
    values: dict[str, object] = {}
    name = _text(_child(root, "SubscriptionId"))
    if not name:
        raise WecutilError(f"{source}: <SubscriptionId> (the name) is missing or empty")
    kind = _text(_child(root, "SubscriptionType")) or "SourceInitiated"
    if kind.lower() != "sourceinitiated":
        raise WecutilError(
            f"{source}: {kind} subscriptions cannot be served: wec only receives source-initiated ones"
        )
    query = _text(_child(root, "Query"))
    if not query:
        raise WecutilError(f"{source}: <Query> is missing or empty")
    try:
        warnings += [f"query: {w}" for w in parse_query(query).warnings]
    except QueryError as err:
        raise WecutilError(f"{source}: <Query>: {err}") from err

    mode = _text(_child(root, "ConfigurationMode")) or "Custom"
    if mode.lower() != "custom":
        try:
            preset = preset_values(mode)
        except ValueError:
            warnings.append(f"ConfigurationMode {mode!r} is unknown: using wec's defaults")
        else:
            values["max_time"] = preset.max_time
            values["heartbeat_interval"] = preset.heartbeat_interval

    delivery = _child(root, "Delivery")
    if delivery is not None:
        dmode = delivery.get("Mode", "Push")
        if dmode.lower() != "push":
            warnings.append(f'Delivery Mode="{dmode}" is ignored: source-initiated subscriptions push')
        batching = _child(delivery, "Batching")
        if batching is not None:
            max_items = _int(_text(_child(batching, "MaxItems")), "Batching/MaxItems")
            if max_items is not None:
                values["max_elements"] = max_items
            latency = _millis(_text(_child(batching, "MaxLatencyTime")), "Batching/MaxLatencyTime")
            if latency is not None:
                values["max_time"] = latency
        push = _child(delivery, "PushSettings")
        heartbeat = _child(push, "Heartbeat") if push is not None else None
        if heartbeat is not None:
            interval = _millis(heartbeat.get("Interval"), "PushSettings/Heartbeat/@Interval")
            if interval is not None:
                values["heartbeat_interval"] = interval

    for tag, key in (("Enabled", "enabled"), ("ReadExistingEvents", "read_existing_events")):
        raw = _text(_child(root, tag))
        if raw:
            values[key] = _bool(raw, f"<{tag}>")
    content = _text(_child(root, "ContentFormat"))
    if content:
        if content.lower() in ("events", "raw"):
            values["content_format"] = ContentFormat.RAW
        elif content.lower() == "renderedtext":
            values["content_format"] = ContentFormat.RENDERED_TEXT
        else:
            raise WecutilError(f"{source}: <ContentFormat> {content!r} is not Events or RenderedText")
    locale = _child(root, "Locale")
    if locale is not None and locale.get("Language"):
        values["locale"] = locale.get("Language")

    uri = _text(_child(root, "Uri"))
    if uri and uri != EVENTLOG_URI:
        warnings.append(f"<Uri> {uri} is ignored (it is the Windows resource URI, not wec's uri option)")
    sddl = _text(_child(root, "AllowedSourceDomainComputers"))
    if sddl:
        warnings.append(
            f"<AllowedSourceDomainComputers> {sddl} is ignored: wec cannot check AD group membership; "
            "restrict sources with a [filter] on their principals instead"
        )
    non_domain = _child(root, "AllowedSourceNonDomainComputers")
    if non_domain is not None and "".join(non_domain.itertext()).strip():
        warnings.append(
            "<AllowedSourceNonDomainComputers> is ignored: "
            "configure TLS client certificates in wec's settings"
        )
    known = {
        "SubscriptionId", "SubscriptionType", "Query", "ConfigurationMode", "Delivery", "Enabled",
        "ReadExistingEvents", "ContentFormat", "Locale", "Uri", "AllowedSourceDomainComputers",
        "AllowedSourceNonDomainComputers",
    }  # fmt: skip
    for el in root:
        if isinstance(el.tag, str) and _local(el) not in known and _local(el) not in _SILENT:
            warnings.append(f"<{_local(el)}> is not used by wec and was ignored")

    sub = Subscription(
        uuid=Subscription.canonical_uuid(uuid) if uuid else Subscription.new_uuid(),
        name=name,
        query=query,
        **values,  # type: ignore[arg-type]
    )
    return WindowsImport(sub, tuple(warnings))


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def dump_windows(sub: Subscription) -> tuple[bytes, tuple[str, ...]]:
    """The subscription as ``wecutil cs`` reads it (UTF-16LE with a BOM), and what it cannot say.

    ``ConfigurationMode`` is always ``Custom`` with explicit values: Windows' ``Normal`` preset
    is a *pull* mode, which a source-initiated subscription cannot use.
    """
    warnings: list[str] = []
    if sub.uri is not None:
        warnings.append(f"uri {sub.uri!r} has no Windows equivalent (a Windows collector serves one URI)")
    if sub.filter is not None:
        warnings.append("the client filter has no Windows equivalent: set AllowedSourceDomainComputers")
    if sub.outputs:
        warnings.append("outputs have no Windows equivalent: events go to the ForwardedEvents log")
    for field in ("connection_retry_count", "connection_retry_interval", "max_envelope_size", "data_locale"):
        default = Subscription.__dataclass_fields__[field].default
        if getattr(sub, field) != default:
            warnings.append(f"{field} has no wecutil element and is not exported")
    if "]]>" in sub.query:
        raise WecutilError("the query contains ']]>', which cannot be written inside CDATA")
    # Windows calls the raw form "Events".
    content = "RenderedText" if sub.content_format is ContentFormat.RENDERED_TEXT else "Events"
    batching = [f"      <MaxLatencyTime>{sub.max_time * 1000}</MaxLatencyTime>"]
    if sub.max_elements is not None:
        batching.insert(0, f"      <MaxItems>{sub.max_elements}</MaxItems>")
    lines = [
        '<?xml version="1.0" encoding="UTF-16"?>',
        f'<Subscription xmlns="{WINDOWS_NS}">',
        f"  <SubscriptionId>{_esc(sub.name)}</SubscriptionId>",
        "  <SubscriptionType>SourceInitiated</SubscriptionType>",
        f"  <Description>exported by wec from subscription {sub.uuid}</Description>",
        f"  <Enabled>{'true' if sub.enabled else 'false'}</Enabled>",
        f"  <Uri>{EVENTLOG_URI}</Uri>",
        "  <ConfigurationMode>Custom</ConfigurationMode>",
        '  <Delivery Mode="Push">',
        "    <Batching>",
        *batching,
        "    </Batching>",
        "    <PushSettings>",
        f'      <Heartbeat Interval="{sub.heartbeat_interval * 1000}"/>',
        "    </PushSettings>",
        "  </Delivery>",
        f"  <Query><![CDATA[{sub.query}]]></Query>",
        f"  <ReadExistingEvents>{'true' if sub.read_existing_events else 'false'}</ReadExistingEvents>",
        "  <TransportName>HTTP</TransportName>",
        f"  <ContentFormat>{content}</ContentFormat>",
    ]
    if sub.locale:
        lines.append(f'  <Locale Language="{_esc(sub.locale)}"/>')
    lines += [
        "  <LogFile>ForwardedEvents</LogFile>",
        "  <PublisherName>Microsoft-Windows-EventCollector</PublisherName>",
        f"  <AllowedSourceDomainComputers>{_DEFAULT_SDDL}</AllowedSourceDomainComputers>",
        "</Subscription>",
    ]
    text = "\r\n".join(lines) + "\r\n"
    return b"\xff\xfe" + text.encode("utf-16-le"), tuple(warnings)
