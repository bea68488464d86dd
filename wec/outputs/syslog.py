# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 5424 syslog headers for formatted events, and RFC 6587 framing.

Theory of operation. A driver receives opaque, already-formatted records (docs/protocol.md
§10.2), but a syslog header needs a few fields of each event: its level (→ severity), its
``TimeCreated`` (→ TIMESTAMP), ``Computer`` (→ HOSTNAME), provider (→ APP-NAME) and
``EventID`` (→ MSGID). Rather than widen the driver contract, :func:`extract_fields` reads
them back from the record itself, whatever the format:

- a record that starts with ``<`` is event XML (format Raw): a few anchored regular
  expressions over the ``<System>`` block, which Windows always writes first;
- a record that starts with ``{`` is one of the JSON formats, told apart by their keys:
  Json (``System``), RawJson (``data``, the raw XML again) or Nxlog (flat keys).

This costs one JSON parse (or a handful of regex searches) per event and works for every
format, including events the pipeline did not parse. Every field is optional: a missing or
unusable one becomes the RFC 5424 NILVALUE ``-`` (or a documented default), never an error —
a syslog header must not make a batch fail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import unescape

import orjson

from wec.formats.base import EventMeta

__all__ = [
    "FACILITIES",
    "EventFields",
    "SyslogConfig",
    "extract_fields",
    "frame",
    "one_line",
    "rfc5424_timestamp",
    "severity",
    "structured_data",
    "syslog_message",
]

# RFC 5424 §6.2.1, table 1.
FACILITIES: dict[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14,
    "clock": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
    "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip

# Windows levels (winmeta.xml: 1 critical, 2 error, 3 warning, 4 information, 5 verbose) →
# RFC 5424 §6.2.1 severities. Level 0 ("LogAlways", used by most Security audit events)
# and provider-defined levels (16..255) carry no severity: they are sent as informational.
_LEVEL_SEVERITY = {1: 2, 2: 3, 3: 4, 4: 6, 5: 7}
_DEFAULT_SEVERITY = 6  # informational
_AUDIT_FAILURE_SEVERITY = 5  # notice: a failed logon is not an error of the system, but worth a look
# Standard keyword bits (winmeta.xml): WINEVENT_KEYWORD_AUDIT_FAILURE / _AUDIT_SUCCESS.
_AUDIT_FAILURE = 0x0010000000000000
_AUDIT_SUCCESS = 0x0020000000000000

_NXLOG_EVENT_TYPE_LEVEL = {"CRITICAL": 1, "ERROR": 2, "WARNING": 3, "INFO": 4, "VERBOSE": 5}

NIL = b"-"
DEFAULT_SD_ID = "wec@32473"  # 32473: the IANA enterprise number reserved for examples (RFC 5612)


@dataclass(frozen=True)
class EventFields:
    """The few fields of one event that a syslog header needs (all optional)."""

    level: int | None = None  # System/Level
    keywords: int | None = None  # System/Keywords as an unsigned 64-bit number
    time_created: str | None = None  # System/TimeCreated/@SystemTime, verbatim
    computer: str | None = None
    event_id: int | None = None
    channel: str | None = None
    provider: str | None = None  # System/Provider/@Name


# --- field extraction -----------------------------------------------------------------------

_SYSTEM_END = re.compile(rb"</(?:\w+:)?System\s*>")
_XML_PROVIDER = re.compile(rb"<Provider\b[^>]*?\sName\s*=\s*(['\"])(.*?)\1", re.S)
_XML_EVENT_ID = re.compile(rb"<EventID\b[^>]*>\s*(\d{1,10})\s*</EventID>")
_XML_LEVEL = re.compile(rb"<Level>\s*(\d{1,3})\s*</Level>")
_XML_KEYWORDS = re.compile(rb"<Keywords>\s*0[xX]([0-9A-Fa-f]{1,16})\s*</Keywords>")
_XML_TIME = re.compile(rb"<TimeCreated\b[^>]*?\sSystemTime\s*=\s*(['\"])(.*?)\1", re.S)
_XML_CHANNEL = re.compile(rb"<Channel>([^<]*)</Channel>")
_XML_COMPUTER = re.compile(rb"<Computer>([^<]*)</Computer>")
_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}


def _xml_text(match: re.Match[bytes] | None, group: int = 1) -> str | None:
    if match is None:
        return None
    text = match.group(group).decode("utf-8", "replace")
    if "&" in text:  # rare in System values; unescape costs more than the search
        text = unescape(text, _XML_ENTITIES)
    return text.strip() or None


def _xml_int(match: re.Match[bytes] | None, base: int = 10) -> int | None:
    return int(match.group(1), base) if match is not None else None


def _fields_from_xml(xml: bytes) -> EventFields:
    # Windows writes <System> first; searching only up to its end keeps user data (which
    # may contain anything, even a nested <Computer>) out of the way and the cost small.
    end = _SYSTEM_END.search(xml)
    system = xml[: end.end()] if end is not None else xml
    return EventFields(
        level=_xml_int(_XML_LEVEL.search(system)),
        keywords=_xml_int(_XML_KEYWORDS.search(system), 16),
        time_created=_xml_text(_XML_TIME.search(system), 2),
        computer=_xml_text(_XML_COMPUTER.search(system)),
        event_id=_xml_int(_XML_EVENT_ID.search(system)),
        channel=_xml_text(_XML_CHANNEL.search(system)),
        provider=_xml_text(_XML_PROVIDER.search(system), 2),
    )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # isascii(): str.isdigit() also accepts digits int() refuses (superscripts, "²").
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _keywords(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            return int(value, 16) & 0xFFFFFFFFFFFFFFFF
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value & 0xFFFFFFFFFFFFFFFF  # Nxlog writes the signed 64-bit value
    return None


def _fields_from_json(doc: Mapping[str, Any]) -> EventFields:
    system = doc.get("System")
    if isinstance(system, Mapping):  # Json
        provider = system.get("Provider")
        return EventFields(
            level=_as_int(system.get("Level")),
            keywords=_keywords(system.get("Keywords")),
            time_created=_as_str(system.get("TimeCreated")),
            computer=_as_str(system.get("Computer")),
            event_id=_as_int(system.get("EventID")),
            channel=_as_str(system.get("Channel")),
            provider=_as_str(provider.get("Name")) if isinstance(provider, Mapping) else None,
        )
    data = doc.get("data")
    if isinstance(data, str):  # RawJson: the event XML is in "data"
        return _fields_from_xml(data.encode("utf-8"))
    # Nxlog: flat; it has no Level, only EventType (docs/protocol.md §10.2).
    event_type = doc.get("EventType")
    level = _NXLOG_EVENT_TYPE_LEVEL.get(event_type) if isinstance(event_type, str) else None
    keywords = _keywords(doc.get("Keywords"))
    if event_type == "AUDIT_FAILURE":
        keywords = (keywords or 0) | _AUDIT_FAILURE
    return EventFields(
        level=level,
        keywords=keywords,
        time_created=_as_str(doc.get("EventTime")),
        computer=_as_str(doc.get("Hostname")),
        event_id=_as_int(doc.get("EventID")),
        channel=_as_str(doc.get("Channel")),
        provider=_as_str(doc.get("SourceName")),
    )


def extract_fields(record: bytes) -> EventFields:
    """The syslog-relevant fields of one formatted record (any format); never raises."""
    head = record.lstrip()[:1]
    if head == b"<":
        return _fields_from_xml(record)
    if head == b"{":
        try:
            doc = orjson.loads(record)
        except orjson.JSONDecodeError:
            return EventFields()
        if isinstance(doc, dict):
            return _fields_from_json(doc)
    return EventFields()


# --- header fields --------------------------------------------------------------------------


def severity(fields: EventFields) -> int:
    """The RFC 5424 severity of an event (see the level table above)."""
    value = _DEFAULT_SEVERITY
    if fields.level is not None:
        value = _LEVEL_SEVERITY.get(fields.level, _DEFAULT_SEVERITY)
    keywords = fields.keywords or 0
    if keywords & _AUDIT_FAILURE and not keywords & _AUDIT_SUCCESS:
        value = min(value, _AUDIT_FAILURE_SEVERITY)
    return value


_SYSTEM_TIME = re.compile(
    r"(\d{4}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d)(?:\.(\d+))?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)


def rfc5424_timestamp(system_time: str | None) -> bytes:
    """``TimeCreated/@SystemTime`` as an RFC 5424 TIMESTAMP, or NILVALUE when unusable.

    Windows writes 7 fractional digits (100 ns ticks); RFC 5424 §6.2.3 allows at most 6
    (TIME-SECFRAC = "." 1*6DIGIT), so the 7th is cut (truncated, not rounded: rounding could
    carry into the seconds and move an event across a second boundary).
    """
    if not system_time:
        return NIL
    m = _SYSTEM_TIME.fullmatch(system_time.strip())
    if m is None:
        return NIL
    date_time, frac, zone = m.groups()
    try:  # the pattern admits month 13, day 39, hour 29, 30 February…
        datetime.fromisoformat(date_time)
    except ValueError:
        return NIL
    text = f"{date_time}.{frac[:6]}{zone}" if frac else f"{date_time}{zone}"
    return text.encode("ascii")


# PRINTUSASCII is %d33-126 (RFC 5424 §6): everything else in a header token becomes "_".
_TOKEN_TABLE = bytes(c if 33 <= c <= 126 else ord("_") for c in range(256))


def _token(value: str | None, max_len: int) -> bytes:
    if not value:
        return NIL
    # Non-ASCII characters become "?" first (one byte each), then anything outside
    # PRINTUSASCII becomes "_". The result is never empty, so never confused with NILVALUE
    # unless it really is "-".
    return value.encode("ascii", "replace")[:max_len].translate(_TOKEN_TABLE)


def _printable_ascii(value: str) -> bool:
    return all(33 <= ord(c) <= 126 for c in value)


# SD-NAME is PRINTUSASCII except '=', SP, ']' and '"' (RFC 5424 §6.3.2).
_SD_ID = re.compile(r"[!#-<>-\\^-~]{1,32}(?:@\d+(?:\.\d+)*)?", re.ASCII)


def _sd_value(value: str) -> bytes:
    # RFC 5424 §6.3.3: inside PARAM-VALUE, '"', '\' and ']' MUST be escaped with '\'.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
    return escaped.encode("utf-8")


def structured_data(meta: EventMeta, sd_id: str = DEFAULT_SD_ID) -> bytes:
    """One SD-ELEMENT describing the batch: subscription, client, source address, node."""
    params = [
        ("subscription", meta.subscription_name),
        ("subscription_uuid", meta.subscription_uuid),
        ("client", meta.principal),
        ("ip", meta.ip),
    ]
    if meta.node:
        params.append(("node", meta.node))
    body = b" ".join(name.encode("ascii") + b'="' + _sd_value(value) + b'"' for name, value in params)
    return b"[" + sd_id.encode("ascii") + b" " + body + b"]"


@dataclass(frozen=True)
class SyslogConfig:
    """The ``syslog`` table of a Tcp output: ``{ rfc = "5424", facility, app_name, ... }``."""

    facility: int = FACILITIES["user"]
    app_name: str | None = None  # None: the event's provider name (then "wec" if it has none)
    structured_data: bool = False  # add one SD-ELEMENT describing the batch (else "-")
    sd_id: str = DEFAULT_SD_ID
    bom: bool = False  # prefix MSG with the UTF-8 BOM (RFC 5424 §6.4 "MSG-UTF8")

    KEYS = ("rfc", "facility", "app_name", "structured_data", "sd_id", "bom")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], driver: str = "Tcp") -> SyslogConfig:
        """Validate the table; raises ValueError naming the bad key."""
        for key in table:
            if key not in cls.KEYS:
                raise ValueError(f"{driver}: unknown syslog key {key!r} (known keys: {', '.join(cls.KEYS)})")
        rfc = str(table.get("rfc", "5424"))
        if rfc != "5424":
            raise ValueError(f'{driver}: syslog.rfc: only "5424" is supported, got {rfc!r}')
        facility_value = table.get("facility", "user")
        if isinstance(facility_value, str) and facility_value.lower() in FACILITIES:
            facility = FACILITIES[facility_value.lower()]
        elif type(facility_value) is int and 0 <= facility_value <= 23:
            facility = facility_value
        else:
            raise ValueError(
                f"{driver}: syslog.facility: expected a name ({', '.join(FACILITIES)}) or 0..23, "
                f"got {facility_value!r}"
            )
        app_name = table.get("app_name")
        if app_name is not None and (
            not isinstance(app_name, str) or not 1 <= len(app_name) <= 48 or not _printable_ascii(app_name)
        ):
            raise ValueError(
                f"{driver}: syslog.app_name: 1 to 48 printable ASCII characters, got {app_name!r}"
            )
        sd = table.get("structured_data", False)
        if not isinstance(sd, bool):
            raise ValueError(f"{driver}: syslog.structured_data: expected true or false, got {sd!r}")
        sd_id = table.get("sd_id", DEFAULT_SD_ID)
        if not isinstance(sd_id, str) or _SD_ID.fullmatch(sd_id) is None:
            raise ValueError(f"{driver}: syslog.sd_id: expected an SD-ID like 'name@12345', got {sd_id!r}")
        bom = table.get("bom", False)
        if not isinstance(bom, bool):
            raise ValueError(f"{driver}: syslog.bom: expected true or false, got {bom!r}")
        return cls(facility=facility, app_name=app_name, structured_data=sd, sd_id=sd_id, bom=bom)


_BOM = b"\xef\xbb\xbf"


def syslog_message(record: bytes, config: SyslogConfig, sd: bytes = NIL) -> bytes:
    """``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`` for one record.

    ``sd`` is computed once per batch by the caller (:func:`structured_data`) since it
    describes the batch, not the event.
    """
    f = extract_fields(record)
    pri = config.facility * 8 + severity(f)
    app = _token(config.app_name or f.provider or "wec", 48)
    msgid = str(f.event_id).encode("ascii") if f.event_id is not None else NIL
    header = b"<%d>1 %s %s %s - %s %s " % (
        pri,
        rfc5424_timestamp(f.time_created),
        _token(f.computer, 255),
        app,
        msgid,
        sd,
    )
    return header + _BOM + record if config.bom else header + record


# Markup that is not character data, where a line break means something else than in text:
# CDATA sections (taken literally), comments, and tags with their quoted attribute values
# (where a line break is white space). Anything else between them is character data.
_MARKUP = re.compile(
    rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.S,
)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _markup_one_line(m: re.Match[bytes]) -> bytes:
    token = m[0]
    if token.startswith(b"<![CDATA["):
        # A reference means nothing inside CDATA: close the section around the line break.
        return _LINE_BREAK.sub(b"]]>&#10;<![CDATA[", token)
    # In a tag, a line break is white space (in an attribute value, XML normalises it to a
    # space anyway); in a comment it does not matter.
    return _LINE_BREAK.sub(b" ", token)


def one_line(record: bytes) -> bytes:
    """``record`` without raw line breaks (CR, LF), meaning the same to an XML reader.

    Over an LF-framed stream a line break ends the message, so an event carrying
    ``\n<13>1 … forged-host …`` (in a CDATA section, ``<`` needs no escaping) would otherwise
    put a complete message of the source's choosing on the receiver's side. In character data
    a line break becomes the reference ``&#10;`` (XML reads CR LF and a lone CR as LF); in a
    CDATA section the section is closed around it; in a tag it becomes a space. Only Raw (XML)
    records can hold raw line breaks: the JSON formats escape them.
    """
    if b"\n" not in record and b"\r" not in record:
        return record
    out = bytearray()
    position = 0
    for m in _MARKUP.finditer(record):
        out += _LINE_BREAK.sub(b"&#10;", record[position : m.start()])
        out += _markup_one_line(m)
        position = m.end()
    out += _LINE_BREAK.sub(b"&#10;", record[position:])
    return bytes(out)


def frame(message: bytes, framing: str) -> bytes:
    """One message framed for a stream (RFC 6587 §3.4.1 octet counting, or LF, or none)."""
    if framing == "octet-counting":
        return b"%d %s" % (len(message), message)
    if framing == "lf":
        return message + b"\n"
    return message
