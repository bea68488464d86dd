# SPDX-License-Identifier: GPL-3.0-or-later
"""The Json format's fast path: one well-formed event straight from lxml to JSON bytes.

``parse_event`` + ``json_document`` build typed, frozen records and then a dict from them;
on real events that walk costs twice the XML parse itself. For the common case (a
well-formed event whose required fields are all there) this module walks the lxml tree once
and builds the Json document's dicts directly, in the format's key order, then serialises
them with orjson once.

It gives up (returns None) on anything out of the ordinary: a document that is not
well-formed or carries a DTD, text that is not encodable, a missing or bad required field.
The caller then takes the general path (``parse_event`` + ``JsonFormat``), which produces the
error document; so both paths give byte-identical output, which tests/formats checks on the
golden events and the corpus. The hardening is the same parser (:func:`thread_parser`).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from wec.formats._common import dumps, meta_block_bytes
from wec.formats.base import EventMeta
from wec.formats.event_xml import (
    _FeedError,
    _local_name,
    _parse_debug_data,
    _parse_processing_error_data,
    _parse_user_data,
    _uint,
)
from wec.formats.json import debug_data_fields, processing_error_fields
from wec.xmlparser import thread_parser

__all__ = ["json_record"]

# The System keys of the Json format, in its order; the walk fills them in document order.
_SYSTEM_ORDER = (
    "EventID",
    "EventIDQualifiers",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "Correlation",
    "Execution",
    "Channel",
    "Computer",
    "Container",
    "UserID",
)
_RENDERING_ORDER = ("Message", "Level", "Task", "Opcode", "Channel", "Provider", "Keywords")
_RENDERING_SCALARS = frozenset(("Message", "Level", "Task", "Opcode", "Channel", "Provider"))
_EXECUTION_OPTIONAL = (
    ("ProcessorID", 8),
    ("SessionID", 32),
    ("KernelTime", 32),
    ("UserTime", 32),
    ("ProcessorTime", 32),
)
_UINT_FIELDS = {"Version": 8, "Level": 8, "Task": 16, "Opcode": 8, "EventRecordID": 64}
_TEXT_FIELDS = frozenset(("Keywords", "Channel", "Computer", "Container"))


_EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
_KNOWN = (
    "System", "EventData", "RenderingInfo", "UserData", "BinaryEventData", "DebugData",
    "ProcessingErrorData", "Provider", "EventID", "Version", "Level", "Task", "Opcode",
    "Keywords", "TimeCreated", "EventRecordID", "Correlation", "Execution", "Channel",
    "Computer", "Container", "Security", "Data", "Binary", "Message", "Keyword",
)  # fmt: skip
# Qualified tag → local name for the names Windows writes, in the event namespace or none: a
# dict hit instead of a split per element. Any other tag goes through _local_name.
_NAMES: dict[object, str] = {**{_EVENT_NS + n: n for n in _KNOWN}, **{n: n for n in _KNOWN}}


def _name(tag: object) -> str | None:
    name = _NAMES.get(tag)
    return name if name is not None else _local_name(tag)


class _GiveUp(Exception):
    """Not the common case: the general path decides what to write."""


def _str(t: str | None) -> str | None:
    """A text value as the Json format keeps it: None when empty or only whitespace."""
    return None if not t or (t[0].isspace() and t.isspace()) else t


def _text(el: Any) -> str | None:
    return _str(el.text)


def _num(t: str | None, bits: int) -> int | None:
    # The common spelling first (plain ASCII digits); everything else as the general parser.
    if t is not None and t.isdigit() and t.isascii() and len(t) <= 20:
        v = int(t)
        return v if v < (1 << bits) else None
    return _uint(t, bits)


def _system(el: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {}
    v: dict[str, Any] = {}
    names = _NAMES
    for child in el:
        tag = child.tag
        name = names.get(tag) or _local_name(tag)
        if name is None:
            continue
        if name in _UINT_FIELDS:
            v[name] = _num(child.text, _UINT_FIELDS[name])
        elif name in _TEXT_FIELDS:
            v[name] = _text(child)
        elif name == "EventID":
            v["EventID"] = _num(child.text, 32)
            v["EventIDQualifiers"] = _num(child.get("Qualifiers"), 16)
        elif name == "Provider":
            provider = {}
            for attr in ("Name", "Guid", "EventSourceName"):
                a = child.get(attr)
                if a is not None:
                    provider[attr] = a
        elif name == "TimeCreated":
            t = child.get("SystemTime")
            if t is None:
                raise _GiveUp
            v["TimeCreated"] = t
        elif name == "Correlation":
            corr: dict[str, Any] = {}
            for attr in ("ActivityID", "RelatedActivityID"):
                a = child.get(attr)
                if a is not None:
                    corr[attr] = a
            v["Correlation"] = corr
        elif name == "Execution":
            get = child.get
            pid = _num(get("ProcessID"), 32)
            tid = _num(get("ThreadID"), 32)
            if pid is None or tid is None:
                raise _GiveUp
            ex: dict[str, Any] = {"ProcessID": pid, "ThreadID": tid}
            for attr, bits in _EXECUTION_OPTIONAL:
                n = _num(get(attr), bits)
                if n is not None:
                    ex[attr] = n
            v["Execution"] = ex
        elif name == "Security":
            v["UserID"] = child.get("UserID")
    if v.get("Computer") is None or v.get("EventID") is None:
        raise _GiveUp
    d: dict[str, Any] = {"Provider": provider}
    for key in _SYSTEM_ORDER:
        x = v.get(key)
        if x is not None:
            d[key] = x
    return d


# Windows writes an event's System element the same way every time: single-quoted attributes
# in a fixed order, no whitespace, no comment (docs/formats.md, common rules). For that shape one
# regular expression reads every field out of the received text at C speed, where the lxml
# walk above creates a proxy and a string per child and per attribute (14 µs of a ~33 µs
# event). A value may contain no '&' (no reference to expand), no character XML normalises
# (CR in text; TAB, CR, LF in attributes), no character XML forbids and no ']' (so never
# the ']]>' that text may not contain): each capture is then exactly what lxml reports, and
# the text it matches is well-formed XML. Any other shape does not match, and the walk decides.
_FORBIDDEN = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_ATTR_CHARS = f"[^'<&\t\n\r{_FORBIDDEN}]*"
_TEXT_CHARS = f"[^<&\r\\]{_FORBIDDEN}]*"
_ATTR = f"({_ATTR_CHARS})"
_TEXT = f"({_TEXT_CHARS})"
_CANONICAL_SYSTEM = re.compile(
    "<Event xmlns='http://schemas\\.microsoft\\.com/win/2004/08/events/event'><System>"
    f"<Provider Name='{_ATTR}'(?: Guid='{_ATTR}')?(?: EventSourceName='{_ATTR}')?/>"
    f"<EventID(?: Qualifiers='{_ATTR}')?>{_TEXT}</EventID>"
    f"<Version>{_TEXT}</Version><Level>{_TEXT}</Level><Task>{_TEXT}</Task>"
    f"<Opcode>{_TEXT}</Opcode><Keywords>{_TEXT}</Keywords>"
    f"<TimeCreated SystemTime='{_ATTR}'/><EventRecordID>{_TEXT}</EventRecordID>"
    f"<Correlation(?: ActivityID='{_ATTR}')?(?: RelatedActivityID='{_ATTR}')?/>"
    f"<Execution ProcessID='{_ATTR}' ThreadID='{_ATTR}'(?: ProcessorID='{_ATTR}')?"
    f"(?: SessionID='{_ATTR}')?(?: KernelTime='{_ATTR}')?(?: UserTime='{_ATTR}')?"
    f"(?: ProcessorTime='{_ATTR}')?/>"
    f"<Channel>{_TEXT}</Channel><Computer>{_TEXT}</Computer>(?:<Container>{_TEXT}</Container>)?"
    f"<Security(?: UserID='{_ATTR}')?/></System>"
)


def _system_from_text(raw: str) -> dict[str, Any] | None:
    """The System fields of an event written the way Windows writes them, read from its text
    (the same dict as :func:`_system` on the parsed element), or None: the walk decides.

    The match is anchored at the start of the text: what it reads is the root's first child,
    which is the only element the caller may use it for."""
    m = _CANONICAL_SYSTEM.match(raw)
    return None if m is None else _system_fields(m)


def _system_fields(m: re.Match[str]) -> dict[str, Any] | None:
    """The System dict of a :data:`_CANONICAL_SYSTEM` match (None: the walk gives up)."""
    (name, guid, source, qualifiers, event_id, version, level, task, opcode, keywords, created,
     record_id, activity, related, pid, tid, cpu, session, kernel, user, processor, channel,
     computer, container, user_id) = m.groups()  # fmt: skip
    process, thread = _num(pid, 32), _num(tid, 32)
    eid, host = _num(event_id, 32), _str(computer)
    if process is None or thread is None or eid is None or host is None:
        return None  # the walk gives up on these, with its own reasons
    provider: dict[str, Any] = {"Name": name}
    if guid is not None:
        provider["Guid"] = guid
    if source is not None:
        provider["EventSourceName"] = source
    d: dict[str, Any] = {"Provider": provider, "EventID": eid}
    uint = _UINT_FIELDS
    for key, value in (
        ("EventIDQualifiers", _num(qualifiers, 16)),
        ("Version", _num(version, uint["Version"])),
        ("Level", _num(level, uint["Level"])),
        ("Task", _num(task, uint["Task"])),
        ("Opcode", _num(opcode, uint["Opcode"])),
        ("Keywords", _str(keywords)),  # '' is an element without text, as lxml's None
        ("TimeCreated", created),
        ("EventRecordID", _num(record_id, uint["EventRecordID"])),
    ):
        if value is not None:
            d[key] = value
    corr: dict[str, Any] = {}
    if activity is not None:
        corr["ActivityID"] = activity
    if related is not None:
        corr["RelatedActivityID"] = related
    d["Correlation"] = corr
    ex: dict[str, Any] = {"ProcessID": process, "ThreadID": thread}
    optional = (cpu, session, kernel, user, processor)  # in _EXECUTION_OPTIONAL's order
    for (key, bits), text in zip(_EXECUTION_OPTIONAL, optional, strict=True):
        n = _num(text, bits)
        if n is not None:
            ex[key] = n
    d["Execution"] = ex
    for key, value in (("Channel", _str(channel)), ("Computer", host), ("Container", _str(container))):
        if value is not None:
            d[key] = value
    if user_id is not None:
        d["UserID"] = user_id
    return d


# The rest of such an event when it carries EventData, as Windows writes it: Data elements
# (named or not, empty or not) and an optional Binary last, then the end of the event or a
# RenderingInfo (RenderedText subscriptions) and the end. With the System above, the whole
# event is then read from its text and needs no parse at all: the expressions accept only
# well-formed XML (fixed names, the character classes above), so a text they match is one
# lxml would accept, and reads the same. Text may also hold line ends (read as a parser
# reports them: CR LF and CR as LF), the five predefined entities (command lines have
# "&amp;", "&lt;"), the character references of TAB, LF and CR (messages may have
# "&#13;&#10;") and ']' (an event with ']]>' anywhere is left to lxml, which refuses it in
# text); any other reference or markup leaves the event to lxml.
_PLAIN = f"[^<&{_FORBIDDEN}]"  # ']' too: the caller declines any text holding ']]>'
_REFERENCE = "&(?:amp|lt|gt|quot|apos|#9|#10|#13|#x9|#xA|#xa|#xD|#xd);"
_RICH_TEXT = f"{_PLAIN}*(?:{_REFERENCE}{_PLAIN}*)*"
# Where the reader stops paying: it reads text at ~7 ns a character (a regex pass and a few
# C passes) and each reference costs a turn of the regex engine (~0.2 µs); libxml2 reads
# ~1.5 ns a character but pays ~0.5 µs per element in the tree and the walk. Measured
# (bench/README.md, "Fourth pass"): a Security event of 1.2 KB reads in 17 µs against 30,
# but one long text of 4 KB costs 39 µs against 26. So the reader takes an event only up to
# 1 KB plus 48 characters per tag, and never past 64 K characters; a hostile event thus
# cannot make it much costlier than the parse, and every text stays far below libxml2's own
# limit on one text node (10 MB without huge_tree), which the reader does not mirror.
_READER_BASE_CHARS = 1024
_READER_CHARS_PER_TAG = 48
_READER_MAX_CHARS = 65536
_READER_MAX_REFERENCES = 64
_DATA = f"<Data(?: Name='{_ATTR_CHARS}')?(?:/>|>{_RICH_TEXT}</Data>)"
_CANONICAL_EVENT_DATA = re.compile(
    f"<EventData>((?:{_DATA})*)(?:<Binary>({_RICH_TEXT})</Binary>)?</EventData>"
)
# findall's tuples: (" Name='k'" or "" when there is no Name, k, text or "").
_DATA_ITEM = re.compile(f"<Data( Name='{_ATTR}')?(?:/>|>({_RICH_TEXT})</Data>)")


def _rendering_element(name: str) -> str:
    return f"(?:<{name}>({_RICH_TEXT})</{name}>|<{name}/>)?"


_KEYWORD = f"(?:<Keyword>{_RICH_TEXT}</Keyword>|<Keyword/>)"
_CANONICAL_RENDERING = re.compile(
    f"<RenderingInfo(?: Culture='{_ATTR}')?>"
    + "".join(_rendering_element(name) for name in _RENDERING_ORDER[:-1])
    + f"(?:<Keywords>((?:{_KEYWORD})*)</Keywords>|<Keywords()/>)?"
    + "</RenderingInfo></Event>"
)
_KEYWORD_TEXT = re.compile(f"<Keyword>({_RICH_TEXT})</Keyword>")
_EVENT_END = "</Event>"
# Expansion order: the character references, then the entities, "&amp;" last.
_REFERENCES: tuple[tuple[str, str], ...] = (
    *(("&#13;", "\r"), ("&#10;", "\n"), ("&#9;", "\t"), ("&#xD;", "\r"), ("&#xd;", "\r")),
    *(("&#xA;", "\n"), ("&#xa;", "\n"), ("&#x9;", "\t")),
    *(("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")),
)

_NAMED_DATA_OPEN = len("<Data Name='")


def _value(text: str) -> str:
    """A text as lxml reports it: line ends normalised (XML 1.0 §2.11), then references
    expanded (a "&#13;" is a CR that stays)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _unescape(text) if "&" in text else text


def _unescape(text: str) -> str:
    """The references of :data:`_REFERENCE` expanded; "&amp;" last, so that "&amp;lt;" and
    "&amp;#13;" stay "&lt;" and "&#13;"."""
    for reference, char in _REFERENCES:
        if reference in text:
            text = text.replace(reference, char)
    return text


def _rendering_from_text(raw: str, start: int) -> dict[str, Any] | None:
    """What :func:`_rendering_info` reads, from the text at ``start`` up to the end of the
    event, or None when it is not in Windows' shape (order: Message, Level, Task, Opcode,
    Channel, Provider, Keywords; each present at most once)."""
    m = _CANONICAL_RENDERING.fullmatch(raw, start)
    if m is None:
        return None
    culture, *scalars, keywords, no_keywords = m.groups()
    d: dict[str, Any] = {}
    for key, text in zip(_RENDERING_ORDER, scalars, strict=False):
        value = _str(_value(text) if text else text)
        if value is not None:
            d[key] = value
    if keywords is not None or no_keywords is not None:
        kws = []
        for text in _KEYWORD_TEXT.findall(keywords or ""):
            value = _str(_value(text))
            if value is not None:
                kws.append(value)
        d["Keywords"] = kws
    d["Culture"] = culture or ""
    return d


def _event_data_from_text(raw: str, start: int) -> tuple[dict[str, Any], int] | None:
    """What :func:`_event_data` reads, from the text after a canonical System (``start``),
    and where the EventData element ends; None when it is not in the shape above."""
    m = _CANONICAL_EVENT_DATA.match(raw, start)
    if m is None:
        return None
    items, binary = m.groups()
    d: dict[str, Any] = {}
    unnamed: list[str] = []
    if "<Data>" in items or "/>" in items:
        for named, key, text in _DATA_ITEM.findall(items):
            value = _value(text)
            if named:  # Name='' is a key too
                d[key] = value
            elif value:
                unnamed.append(value)
    else:
        # Only <Data Name='k'>v</Data> (the match above vouches for it; "/>" may also be
        # text, then the general loop does the same): cut at the ends, at C speed. A name
        # holds no quote, so the first "'>" ends it.
        for item in items.split("</Data>")[:-1]:
            key, _, text = item[_NAMED_DATA_OPEN:].partition("'>")
            d[key] = _value(text)
    if unnamed:
        d["Data"] = unnamed
    if binary:  # an empty Binary is an element without text: lxml's None, not kept
        d["Binary"] = _value(binary)
    return d, m.end()


def _event_data(el: Any) -> dict[str, Any]:
    # lxml picks the Data children at C level ("{*}": any namespace or none, as _local_name
    # matches): no proxy and no tag string for the other nodes, 2-3x faster than a loop over
    # every child. Document order is kept, so a repeated Name keeps its last value.
    d: dict[str, Any] = {}
    unnamed: list[str] = []
    for child in el.iterchildren("{*}Data"):
        value = child.text or ""
        key = child.get("Name")
        if key is not None:
            d[key] = value
        elif value:
            unnamed.append(value)
    if unnamed:
        d["Data"] = unnamed
    binary: str | None = None
    for child in el.iterchildren("{*}Binary"):
        binary = child.text  # the last one, as the general parser keeps it
    if binary is not None:
        d["Binary"] = binary
    return d


def _rendering_info(el: Any) -> dict[str, Any]:
    v: dict[str, Any] = {}
    for child in el:
        name = _name(child.tag)
        if name in _RENDERING_SCALARS:
            v[name] = _text(child)
        elif name == "Keywords":
            kws = []
            for k in child.iterchildren("{*}Keyword"):
                t = _text(k)
                if t is not None:
                    kws.append(t)
            v["Keywords"] = kws
    d: dict[str, Any] = {}
    for key in _RENDERING_ORDER:
        x = v.get(key)
        if x is not None:
            d[key] = x
    d["Culture"] = el.get("Culture") or ""
    return d


def _document_from_text(raw: str) -> dict[str, Any] | None:
    """The document of an event written entirely the Windows way (System, EventData, and
    RenderingInfo or not), read from its text without parsing it; None for any other event."""
    size = len(raw)
    if size > _READER_MAX_CHARS or size > _READER_BASE_CHARS + _READER_CHARS_PER_TAG * raw.count("<"):
        return None
    if "]]>" in raw or raw.count("&") > _READER_MAX_REFERENCES:
        return None
    m = _CANONICAL_SYSTEM.match(raw)
    if m is None:
        return None
    read = _event_data_from_text(raw, m.end())
    if read is None:
        return None
    data, end = read
    rendering = None
    if len(raw) - end != len(_EVENT_END) or not raw.endswith(_EVENT_END):
        rendering = _rendering_from_text(raw, end)
        if rendering is None:
            return None
    system = _system_fields(m)
    if system is None:
        return None  # the walk gives up on it: so does the general path's caller
    doc: dict[str, Any] = {"System": system, "EventData": data}
    if rendering is not None:
        doc["RenderingInfo"] = rendering
    return doc


def _document(root: Any, raw: str) -> dict[str, Any]:
    system: dict[str, Any] | None = None
    data_key: str | None = None
    data: Any = None
    rendering: dict[str, Any] | None = None
    canonical = _system_from_text(raw)  # the root's first child, if it is a canonical System
    for child in root:
        name = _name(child.tag)
        if name == "System":  # the last one counts, as in the general parser
            system = canonical if canonical is not None else _system(child)
        elif name == "EventData":
            data_key, data = name, _event_data(child)
        elif name == "RenderingInfo":
            rendering = _rendering_info(child)
        elif name == "UserData":
            data_key, data = name, _parse_user_data(child, raw).xml
        elif name == "BinaryEventData":
            data_key, data = name, child.text or ""
        elif name == "DebugData":
            data_key, data = name, debug_data_fields(_parse_debug_data(child))
        elif name == "ProcessingErrorData":
            try:
                data_key, data = name, processing_error_fields(_parse_processing_error_data(child))
            except _FeedError:
                raise _GiveUp from None
        canonical = None  # read from the first child only
    if system is None:
        raise _GiveUp
    doc: dict[str, Any] = {"System": system}
    if data_key is not None:
        doc[data_key] = data
    if rendering is not None:
        doc["RenderingInfo"] = rendering
    return doc


def json_record(raw: str, meta: EventMeta, meta_block: bytes | None = None) -> bytes | None:
    """The Json format's record for ``raw``, or None when the general path must decide.

    ``meta_block`` is ``meta_block_bytes(meta)`` when the caller has it already (once per
    batch rather than a cache lookup, which hashes every field of ``meta``, per event)."""
    if "<!DOCTYPE" in raw:  # the general path refuses it with its own error
        return None
    doc = _document_from_text(raw)
    if doc is None:
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:
            return None
        try:
            root = etree.fromstring(data, thread_parser())
        except (etree.LxmlError, ValueError):
            return None
        if root is None:
            return None
        try:
            doc = _document(root, raw)
        except _GiveUp:
            return None
    # The OpenWEC block is the same for every event of the batch: serialised once, spliced.
    body = dumps(doc)
    if meta_block is None:
        meta_block = meta_block_bytes(meta)
    return b"".join((body[:-1], b',"OpenWEC":', meta_block, b"}"))
