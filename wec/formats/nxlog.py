# SPDX-License-Identifier: GPL-3.0-or-later
"""Nxlog: one flat JSON object in the manner of nxlog's ``im_msvistalog`` (docs/protocol.md §10.2).

Order of the keys: System fields, then the data fields, then ``Message``/``Category``/
``Opcode`` from RenderingInfo, then ``OpenWEC`` and ``EventReceivedTime``. The object is flat,
so names can collide (an EventData value called ``Message``, say): the later source wins,
which is what a JSON reader sees in OpenWEC's output, where the key is written twice."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wec.formats._common import dumps, meta_block
from wec.formats.event_xml import (
    BinaryEventData,
    DebugData,
    EventData,
    ParsedEvent,
    ProcessingErrorData,
    System,
    UserData,
    parse_event,
)
from wec.formats.json import debug_data_fields, event_data_fields, openwec_block, processing_error_fields

if TYPE_CHECKING:
    from wec.formats.base import EventMeta

__all__ = ["NxlogFormat", "event_type", "nxlog_document", "signed_keywords"]

# Keyword bits of the Security log (EventKeywords.AuditSuccess / AuditFailure in .NET).
AUDIT_SUCCESS = 0x20000000000000
AUDIT_FAILURE = 0x10000000000000

_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")

# Level → EventType outside the Security channel (nxlog im_msvistalog).
_LEVEL_TYPES = {1: "CRITICAL", 2: "ERROR", 3: "WARNING", 4: "INFO", 5: "VERBOSE"}
# EventType → (Severity, SeverityValue).
_SEVERITY = {
    "AUDIT_SUCCESS": ("INFO", 2),
    "AUDIT_FAILURE": ("ERROR", 4),
    "CRITICAL": ("CRITICAL", 5),
    "ERROR": ("ERROR", 4),
    "WARNING": ("WARNING", 3),
    "INFO": ("INFO", 2),
    "VERBOSE": ("DEBUG", 1),
}


def signed_keywords(keywords: str | None) -> int | None:
    """``0x8020000000000000`` → ``-9214364837600034816``: the 64-bit value read as signed,
    as nxlog prints it. None when the text is not ``0x`` followed by 1–16 hex digits."""
    if keywords is None:
        return None
    s = keywords.strip()
    if s[:2] not in ("0x", "0X") or not _HEX.fullmatch(s, 2):
        return None
    v = int(s[2:], 16)
    return v - (1 << 64) if v >= 1 << 63 else v


def event_type(channel: str | None, level: int | None, keywords: int | None) -> str | None:
    """In ``Security`` the audit bits decide (success first); elsewhere the Level (1–5).
    No channel, another Level (0 included) or no audit bit: no EventType."""
    if channel is None:
        return None
    if channel == "Security":
        if keywords is None:
            return None
        if keywords & AUDIT_SUCCESS:
            return "AUDIT_SUCCESS"
        if keywords & AUDIT_FAILURE:
            return "AUDIT_FAILURE"
        return None
    return _LEVEL_TYPES.get(level) if level is not None else None


def _system(d: dict[str, Any], s: System) -> None:
    p = s.provider
    if p.name is not None:
        d["SourceName"] = p.name
    if p.guid is not None:
        d["ProviderGuid"] = p.guid.upper()
    d["EventID"] = s.event_id
    if s.version is not None:
        d["Version"] = s.version
    if s.task is not None:
        d["Task"] = s.task
    if s.opcode is not None:
        d["OpcodeValue"] = s.opcode
    kw = signed_keywords(s.keywords)
    if kw is not None:
        d["Keywords"] = kw
    if s.time_created is not None:
        d["EventTime"] = s.time_created
    if s.event_record_id is not None:
        d["RecordNumber"] = s.event_record_id
    c = s.correlation
    if c is not None:
        if c.activity_id is not None:
            d["ActivityID"] = c.activity_id.upper()
        if c.related_activity_id is not None:
            d["RelatedActivityID"] = c.related_activity_id.upper()
    e = s.execution
    if e is not None:
        d["ProcessID"] = e.process_id
        d["ThreadID"] = e.thread_id
    if s.channel is not None:
        d["Channel"] = s.channel
    d["Hostname"] = s.computer
    if s.user_id is not None:
        d["UserID"] = s.user_id
    et = event_type(s.channel, s.level, kw)
    if et is not None:
        d["EventType"] = et
        d["Severity"], d["SeverityValue"] = _SEVERITY[et]


def nxlog_document(parsed: ParsedEvent, meta: EventMeta) -> dict[str, Any]:
    """The Nxlog format's document, before serialisation."""
    d: dict[str, Any] = {}
    if parsed.system is not None:
        _system(d, parsed.system)
    data = parsed.data
    if isinstance(data, EventData):
        d.update(event_data_fields(data))
    elif isinstance(data, UserData):
        d["UserData"] = data.xml
    elif isinstance(data, DebugData):
        d.update(debug_data_fields(data))
    elif isinstance(data, ProcessingErrorData):
        d.update(processing_error_fields(data))
    elif isinstance(data, BinaryEventData):
        d["BinaryEventData"] = data.payload
    r = parsed.rendering_info
    if r is not None:
        if r.message is not None:
            d["Message"] = r.message
        if r.task is not None:
            d["Category"] = r.task
        if r.opcode is not None:
            d["Opcode"] = r.opcode
    d["OpenWEC"] = openwec_block(parsed, meta)
    d["EventReceivedTime"] = meta_block(meta)["TimeReceived"]
    return d


class NxlogFormat:
    name = "Nxlog"
    needs_parse = True

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        if parsed is None:
            parsed = parse_event(raw)
        return dumps(nxlog_document(parsed, meta))
