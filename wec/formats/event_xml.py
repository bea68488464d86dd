# SPDX-License-Identifier: GPL-3.0-or-later
"""Parse one forwarded Windows event (its XML text) into a typed record.

Theory of operation (docs/protocol.md §10.1, §10.3):

* ``parse_event(raw)`` never raises. Whatever the input, it returns a :class:`ParsedEvent`;
  what could not be understood is described by ``ParsedEvent.error`` (an :class:`EventError`),
  and the original text is always kept there, so that no event is ever silently lost.
* The XML parser is hardened (docs/design.md §5.3): no DTD (a document carrying one is
  refused), no entity expansion, no network, no huge trees.
* Children of ``<Event>`` are read in document order, by local name, exactly once each, with
  plain attribute and ``.text`` access (no XPath): this is the hot path of every parsed
  output format.
* When the XML is not well-formed, the text is cut at its **last** ``<RenderingInfo``,
  ``</Event>`` is appended and the result re-parsed: Windows sometimes truncates the rendered
  message of RenderedText events and makes the whole event invalid (OpenWEC #46).
* A well-formed document whose required fields are bad (``Computer``/``EventID`` missing,
  ``TimeCreated`` without ``SystemTime``, ``Execution`` without its ids, a ``ProcessingErrorData``
  ``ErrorCode`` that is not a number) gives ``FailedToFeedEvent``; the sections read *before*
  the failing one are kept, the failing one and those after it are not (OpenWEC behaves so).

Text values: element text that is empty or only whitespace is treated as absent for the scalar
fields of ``System``, ``RenderingInfo`` and ``DebugData`` (pretty-printed renderings put
indentation inside empty elements); ``EventData`` values are kept verbatim.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from wec.xmlparser import thread_parser

__all__ = [
    "BinaryEventData",
    "Correlation",
    "DataSection",
    "DebugData",
    "ErrorType",
    "EventData",
    "EventError",
    "Execution",
    "ParsedEvent",
    "ProcessingErrorData",
    "Provider",
    "RenderingInfo",
    "System",
    "UserData",
    "parse_event",
]


class ErrorType(enum.StrEnum):
    """Why an event could not be read as-is (docs/protocol.md §10.3); also the metric label."""

    RAW_CONTENT_RECOVERED = "RawContentRecovered"  # not well-formed; cut before RenderingInfo: OK
    FAILED_TO_RECOVER_RAW_CONTENT = "FailedToRecoverRawContent"  # the cut text is not valid either
    UNRECOVERABLE = "Unrecoverable"  # not well-formed and no <RenderingInfo to cut at
    FAILED_TO_FEED_EVENT = "FailedToFeedEvent"  # well-formed, but a required field is bad
    UNKNOWN = "Unknown"  # an internal failure; carries no message


@dataclass(frozen=True, slots=True)
class EventError:
    type: ErrorType
    message: str | None  # human text; None only for ErrorType.UNKNOWN
    original_content: str  # the full event text as received, never altered


@dataclass(frozen=True, slots=True)
class Provider:
    name: str | None = None
    guid: str | None = None  # as written, e.g. "{a7975c8f-…}"
    event_source_name: str | None = None


@dataclass(frozen=True, slots=True)
class Correlation:
    activity_id: str | None = None
    related_activity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    process_id: int
    thread_id: int
    processor_id: int | None = None
    session_id: int | None = None
    kernel_time: int | None = None
    user_time: int | None = None
    processor_time: int | None = None


@dataclass(frozen=True, slots=True)
class System:
    provider: Provider
    event_id: int
    computer: str
    event_id_qualifiers: int | None = None
    version: int | None = None
    level: int | None = None
    task: int | None = None
    opcode: int | None = None
    keywords: str | None = None  # the hex text, verbatim (e.g. "0x8020000000000000")
    time_created: str | None = None  # the SystemTime attribute, verbatim
    event_record_id: int | None = None
    correlation: Correlation | None = None  # present (possibly empty) when the element is
    execution: Execution | None = None
    channel: str | None = None
    container: str | None = None
    user_id: str | None = None  # Security/@UserID (a SID)


@dataclass(frozen=True, slots=True)
class EventData:
    named: dict[str, str] = field(default_factory=dict)  # <Data Name='x'>; last one wins
    unnamed: list[str] = field(default_factory=list)  # non-empty unnamed <Data>, in order
    binary: str | None = None  # <Binary> hex text


@dataclass(frozen=True, slots=True)
class UserData:
    xml: str  # the inner XML of <UserData>, verbatim from the received text


@dataclass(frozen=True, slots=True)
class DebugData:
    component: str = ""
    message: str = ""
    sequence_number: int | None = None
    flags_name: str | None = None
    level_name: str | None = None
    sub_component: str | None = None
    file_line: str | None = None
    function: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessingErrorData:
    error_code: int = 0
    data_item_name: str = ""
    event_payload: str = ""


@dataclass(frozen=True, slots=True)
class BinaryEventData:
    payload: str


DataSection = EventData | UserData | DebugData | ProcessingErrorData | BinaryEventData


@dataclass(frozen=True, slots=True)
class RenderingInfo:
    culture: str = ""  # "" when the attribute is absent
    message: str | None = None
    level: str | None = None
    task: str | None = None
    opcode: str | None = None
    channel: str | None = None
    provider: str | None = None
    keywords: list[str] | None = None  # present (possibly empty) when <Keywords> is


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    system: System | None = None
    data: DataSection | None = None  # None: no data section (e.g. event 111) or not read
    rendering_info: RenderingInfo | None = None
    error: EventError | None = None


# --------------------------------------------------------------------------------------------
# XML parsing: wec's hardened parser (wec.xmlparser), one per thread.


class _XmlError(Exception):
    """The text is not a well-formed (or acceptable) XML document."""


class _FeedError(Exception):
    """The document is well-formed but a required field is missing or bad."""


def _parse_xml(content: str) -> Any:
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError as err:  # lone surrogates cannot be XML characters
        raise _XmlError(f"invalid character at offset {err.start}") from None
    try:
        root = etree.fromstring(data, thread_parser())
    except etree.XMLSyntaxError as err:
        raise _XmlError(getattr(err, "msg", None) or str(err) or "XML syntax error") from None
    except (etree.LxmlError, ValueError) as err:  # e.g. empty document
        raise _XmlError(str(err) or type(err).__name__) from None
    if root is None:
        raise _XmlError("empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # docs/design.md §5.3: no DTD. A WEF event never carries one.
        raise _XmlError("a document type declaration (DTD) is not allowed")
    return root


# --------------------------------------------------------------------------------------------
# Small field readers.


_LOCAL_NAMES: dict[object, str | None] = {}


def _local_name(tag: object) -> str | None:
    """``{ns}Name`` → ``Name``; None for comments and processing instructions. Elements are
    matched by local name whatever their namespace, as OpenWEC does."""
    try:
        return _LOCAL_NAMES[tag]
    except KeyError:
        pass
    name = tag.rpartition("}")[2] if type(tag) is str else None
    if len(_LOCAL_NAMES) < 4096:  # bounded: hostile input may bring many distinct names
        _LOCAL_NAMES[tag] = name
    return name


def _text(el: Any) -> str | None:
    """Element text, or None when it is empty or only whitespace."""
    t: str | None = el.text
    if t is None or not t or (t[0].isspace() and t.isspace()):
        return None
    return t


def _uint(text: str | None, bits: int) -> int | None:
    """An unsigned decimal of at most ``bits`` bits, or None (numbers that do not parse are
    omitted, docs/protocol.md §10.2). Only ASCII digits count; one leading '+' is allowed."""
    if text is None:
        return None
    if text.isdigit() and text.isascii() and len(text) <= 20:  # the usual case, fast
        v = int(text)
        return v if v < (1 << bits) else None
    s = text.strip()
    if s[:1] == "+":
        s = s[1:]
    # The length bound also keeps int() far below Python's digit limit on hostile input.
    if not s or len(s) > 20 or not s.isascii() or not s.isdigit():
        return None
    v = int(s)
    return v if v < (1 << bits) else None


def _required_uint(text: str | None, bits: int, what: str) -> int:
    v = _uint(text, bits)
    if v is None:
        raise _FeedError(f"{what} is missing or invalid")
    return v


# --------------------------------------------------------------------------------------------
# Sections.


def _parse_system(el: Any) -> System:
    provider = Provider()
    event_id: int | None = None
    computer: str | None = None
    qualifiers = version = level = task = opcode = record_id = None
    keywords = time_created = channel = container = user_id = None
    correlation: Correlation | None = None
    execution: Execution | None = None
    for child in el:
        name = _local_name(child.tag)
        if name is None:
            continue
        get = child.get
        if name == "Provider":
            provider = Provider(get("Name"), get("Guid"), get("EventSourceName"))
        elif name == "EventID":
            event_id = _uint(child.text, 32)
            qualifiers = _uint(get("Qualifiers"), 16)
        elif name == "Version":
            version = _uint(child.text, 8)
        elif name == "Level":
            level = _uint(child.text, 8)
        elif name == "Task":
            task = _uint(child.text, 16)
        elif name == "Opcode":
            opcode = _uint(child.text, 8)
        elif name == "Keywords":
            keywords = _text(child)
        elif name == "TimeCreated":
            time_created = get("SystemTime")
            if time_created is None:
                raise _FeedError("SystemTime attribute of TimeCreated is missing")
        elif name == "EventRecordID":
            record_id = _uint(child.text, 64)
        elif name == "Correlation":
            correlation = Correlation(get("ActivityID"), get("RelatedActivityID"))
        elif name == "Execution":
            execution = Execution(
                _required_uint(get("ProcessID"), 32, "Execution/@ProcessID"),
                _required_uint(get("ThreadID"), 32, "Execution/@ThreadID"),
                _uint(get("ProcessorID"), 8),
                _uint(get("SessionID"), 32),
                _uint(get("KernelTime"), 32),
                _uint(get("UserTime"), 32),
                _uint(get("ProcessorTime"), 32),
            )
        elif name == "Channel":
            channel = _text(child)
        elif name == "Computer":
            computer = _text(child)
        elif name == "Container":
            container = _text(child)
        elif name == "Security":
            user_id = get("UserID")
    if computer is None:
        raise _FeedError("Computer is missing or empty")
    if event_id is None:
        raise _FeedError("EventID is missing or invalid")
    return System(
        provider=provider,
        event_id=event_id,
        computer=computer,
        event_id_qualifiers=qualifiers,
        version=version,
        level=level,
        task=task,
        opcode=opcode,
        keywords=keywords,
        time_created=time_created,
        event_record_id=record_id,
        correlation=correlation,
        execution=execution,
        channel=channel,
        container=container,
        user_id=user_id,
    )


def _parse_event_data(el: Any) -> EventData:
    named: dict[str, str] = {}
    unnamed: list[str] = []
    binary: str | None = None
    for child in el:
        name = _local_name(child.tag)
        if name == "Data":
            value = child.text or ""
            key = child.get("Name")
            if key is not None:
                named[key] = value
            elif value:  # empty unnamed values are dropped (OpenWEC, event 6013)
                unnamed.append(value)
        elif name == "Binary":
            binary = child.text
    return EventData(named, unnamed, binary)


_USERDATA_OPEN = re.compile(
    r"<((?:[A-Za-z_][\w.\-]*:)?UserData)(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*(/?)>"
)


def _parse_user_data(el: Any, content: str) -> UserData:
    # The content of UserData is provider-defined: it is passed on as the XML text received,
    # byte for byte (quotes, namespace declarations, entities), not as lxml would re-serialise it.
    m = _USERDATA_OPEN.search(content)
    prefix = content[: m.start()] if m is not None else ""
    if m is not None and (
        "<!--" in prefix
        or "<![CDATA[" in prefix
        or "<?" in prefix[2:]
        or len(_USERDATA_OPEN.findall(content)) != 1
    ):
        # Text search could be fooled (a "<UserData" inside a comment or CDATA, two UserData
        # sections): trust the parsed element instead, as OpenWEC does.
        m = None
    if m is not None:
        if m.group(2):
            return UserData("")
        close = content.rfind("</" + m.group(1))
        if close >= m.end():
            return UserData(content[m.end() : close])
    # Fallback (unusual markup in front of UserData): lxml's own serialisation.
    parts = [el.text or ""]
    parts.extend(etree.tostring(c, encoding="unicode", with_tail=True) for c in el)
    return UserData("".join(parts))


def _parse_debug_data(el: Any) -> DebugData:
    fields: dict[str, Any] = {}
    for child in el:
        name = _local_name(child.tag)
        if name == "SequenceNumber":
            fields["sequence_number"] = _uint(child.text, 32)
        elif name == "FlagsName":
            fields["flags_name"] = _text(child)
        elif name == "LevelName":
            fields["level_name"] = _text(child)
        elif name == "Component":
            fields["component"] = child.text or ""
        elif name == "SubComponent":
            fields["sub_component"] = _text(child)
        elif name == "FileLine":
            fields["file_line"] = _text(child)
        elif name == "Function":
            fields["function"] = _text(child)
        elif name == "Message":
            fields["message"] = child.text or ""
    return DebugData(**fields)


def _parse_processing_error_data(el: Any) -> ProcessingErrorData:
    error_code = 0
    item = payload = ""
    for child in el:
        name = _local_name(child.tag)
        if name == "ErrorCode":
            error_code = _required_uint(child.text, 32, "ErrorCode")
        elif name == "DataItemName":
            item = child.text or ""
        elif name == "EventPayload":
            payload = child.text or ""
    return ProcessingErrorData(error_code, item, payload)


def _parse_rendering_info(el: Any) -> RenderingInfo:
    values: dict[str, Any] = {"culture": el.get("Culture") or ""}
    for child in el:
        name = _local_name(child.tag)
        if name in _RENDERING_SCALARS:
            values[_RENDERING_SCALARS[name]] = _text(child)
        elif name == "Keywords":
            kws = []
            for k in child:
                if _local_name(k.tag) == "Keyword":
                    t = _text(k)
                    if t is not None:
                        kws.append(t)
            values["keywords"] = kws
    return RenderingInfo(**values)


_RENDERING_SCALARS = {
    "Message": "message",
    "Level": "level",
    "Task": "task",
    "Opcode": "opcode",
    "Channel": "channel",
    "Provider": "provider",  # Microsoft's schema says "Publisher"; Windows writes "Provider"
}


class _Feed:
    """What was read from a document so far (kept even when a later section fails)."""

    __slots__ = ("data", "rendering_info", "system")

    def __init__(self) -> None:
        self.system: System | None = None
        self.data: DataSection | None = None
        self.rendering_info: RenderingInfo | None = None


def _feed(root: Any, content: str, out: _Feed) -> None:
    seen_system = False
    for child in root:
        name = _local_name(child.tag)
        try:
            if name == "System":
                seen_system = True
                out.system = _parse_system(child)
            elif name == "EventData":
                out.data = _parse_event_data(child)
            elif name == "UserData":
                out.data = _parse_user_data(child, content)
            elif name == "BinaryEventData":
                out.data = BinaryEventData(child.text or "")
            elif name == "DebugData":
                out.data = _parse_debug_data(child)
            elif name == "ProcessingErrorData":
                out.data = _parse_processing_error_data(child)
            elif name == "RenderingInfo":
                out.rendering_info = _parse_rendering_info(child)
            # SubscriptionBookmarkEvent (event 111) and unknown elements carry nothing to keep.
        except _FeedError as err:
            raise _FeedError(f"Parsing failure in {name}: {err}") from None
    if not seen_system:
        # OpenWEC would emit an event with no System at all; an event without System has no
        # Computer and no EventID, the two required fields, so it is reported.
        raise _FeedError("System is missing")


def _feed_error(raw: str, out: _Feed, err: _FeedError) -> ParsedEvent:
    message = f"Could not feed event from document: {err}"
    return ParsedEvent(
        out.system, out.data, out.rendering_info, EventError(ErrorType.FAILED_TO_FEED_EVENT, message, raw)
    )


def _recover(raw: str, initial: _XmlError) -> ParsedEvent:
    cut = raw.rfind("<RenderingInfo")
    if cut < 0:
        msg = f"Failed to parse event XML: {initial}"
        return ParsedEvent(error=EventError(ErrorType.UNRECOVERABLE, msg, raw))
    content = raw[:cut] + "</Event>"
    try:
        root = _parse_xml(content)
    except _XmlError as err:
        msg = f"Failed to parse event XML ({initial}) and Raw content recovering failed ({err})"
        return ParsedEvent(error=EventError(ErrorType.FAILED_TO_RECOVER_RAW_CONTENT, msg, raw))
    out = _Feed()
    try:
        _feed(root, content, out)
    except _FeedError as err:
        return _feed_error(raw, out, err)
    msg = f"Failed to parse event XML ({initial}) but Raw content could be recovered."
    return ParsedEvent(
        out.system, out.data, out.rendering_info, EventError(ErrorType.RAW_CONTENT_RECOVERED, msg, raw)
    )


def parse_event(raw: str) -> ParsedEvent:
    """Parse one event's XML text. Never raises: failures are described by ``.error``."""
    try:
        root = _parse_xml(raw)
    except _XmlError as err:
        return _recover(raw, err)
    out = _Feed()
    try:
        _feed(root, raw, out)
    except _FeedError as err:
        return _feed_error(raw, out, err)
    return ParsedEvent(out.system, out.data, out.rendering_info)
