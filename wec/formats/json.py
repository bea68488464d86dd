# SPDX-License-Identifier: GPL-3.0-or-later
"""Json: the event as a JSON document, OpenWEC's shape (docs/protocol.md §10.2).

Keys in order: ``System``, at most one data key (``EventData``, ``UserData``, ``DebugData``,
``ProcessingErrorData`` or ``BinaryEventData``), ``RenderingInfo``, ``OpenWEC``. Absent values
are omitted, never written as null. An event that could not be read has an
``OpenWEC.Error`` block holding the original text, and whatever could be recovered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wec.formats._common import dumps, error_block, meta_block
from wec.formats.event_xml import (
    BinaryEventData,
    DebugData,
    EventData,
    ParsedEvent,
    ProcessingErrorData,
    RenderingInfo,
    System,
    UserData,
    parse_event,
)

if TYPE_CHECKING:
    from wec.formats.base import EventMeta

__all__ = ["JsonFormat", "json_document"]


def _system(s: System) -> dict[str, Any]:
    p = s.provider
    provider: dict[str, Any] = {}
    if p.name is not None:
        provider["Name"] = p.name
    if p.guid is not None:
        provider["Guid"] = p.guid
    if p.event_source_name is not None:
        provider["EventSourceName"] = p.event_source_name
    d: dict[str, Any] = {"Provider": provider, "EventID": s.event_id}
    if s.event_id_qualifiers is not None:
        d["EventIDQualifiers"] = s.event_id_qualifiers
    if s.version is not None:
        d["Version"] = s.version
    if s.level is not None:
        d["Level"] = s.level
    if s.task is not None:
        d["Task"] = s.task
    if s.opcode is not None:
        d["Opcode"] = s.opcode
    if s.keywords is not None:
        d["Keywords"] = s.keywords
    if s.time_created is not None:
        d["TimeCreated"] = s.time_created
    if s.event_record_id is not None:
        d["EventRecordID"] = s.event_record_id
    c = s.correlation
    if c is not None:
        corr: dict[str, Any] = {}  # {} when the element has no attributes (docs/protocol.md §10.2)
        if c.activity_id is not None:
            corr["ActivityID"] = c.activity_id
        if c.related_activity_id is not None:
            corr["RelatedActivityID"] = c.related_activity_id
        d["Correlation"] = corr
    e = s.execution
    if e is not None:
        ex: dict[str, Any] = {"ProcessID": e.process_id, "ThreadID": e.thread_id}
        if e.processor_id is not None:
            ex["ProcessorID"] = e.processor_id
        if e.session_id is not None:
            ex["SessionID"] = e.session_id
        if e.kernel_time is not None:
            ex["KernelTime"] = e.kernel_time
        if e.user_time is not None:
            ex["UserTime"] = e.user_time
        if e.processor_time is not None:
            ex["ProcessorTime"] = e.processor_time
        d["Execution"] = ex
    if s.channel is not None:
        d["Channel"] = s.channel
    d["Computer"] = s.computer
    if s.container is not None:
        d["Container"] = s.container
    if s.user_id is not None:
        d["UserID"] = s.user_id
    return d


def event_data_fields(data: EventData) -> dict[str, Any]:
    """Named values as keys, then ``Data`` (non-empty unnamed values) and ``Binary``.
    A named value called ``Data`` or ``Binary`` is overridden by the list / hex (the later
    key wins, as it does when a JSON reader reads OpenWEC's duplicated keys)."""
    d: dict[str, Any] = dict(data.named)
    if data.unnamed:
        d["Data"] = data.unnamed
    if data.binary is not None:
        d["Binary"] = data.binary
    return d


def debug_data_fields(data: DebugData) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if data.sequence_number is not None:
        d["SequenceNumber"] = data.sequence_number
    if data.flags_name is not None:
        d["FlagsName"] = data.flags_name
    if data.level_name is not None:
        d["LevelName"] = data.level_name
    d["Component"] = data.component
    if data.sub_component is not None:
        d["SubComponent"] = data.sub_component
    if data.file_line is not None:
        d["FileLine"] = data.file_line
    if data.function is not None:
        d["Function"] = data.function
    d["Message"] = data.message
    return d


def processing_error_fields(data: ProcessingErrorData) -> dict[str, Any]:
    return {
        "ErrorCode": data.error_code,
        "DataItemName": data.data_item_name,
        "EventPayload": data.event_payload,
    }


def _rendering_info(r: RenderingInfo) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if r.message is not None:
        d["Message"] = r.message
    if r.level is not None:
        d["Level"] = r.level
    if r.task is not None:
        d["Task"] = r.task
    if r.opcode is not None:
        d["Opcode"] = r.opcode
    if r.channel is not None:
        d["Channel"] = r.channel
    if r.provider is not None:
        d["Provider"] = r.provider
    if r.keywords is not None:
        d["Keywords"] = r.keywords
    d["Culture"] = r.culture
    return d


def openwec_block(parsed: ParsedEvent, meta: EventMeta) -> dict[str, Any]:
    base = meta_block(meta)
    if parsed.error is None:
        return base
    return {**base, "Error": error_block(parsed.error)}


def json_document(parsed: ParsedEvent, meta: EventMeta) -> dict[str, Any]:
    """The Json format's document, before serialisation."""
    doc: dict[str, Any] = {}
    if parsed.system is not None:
        doc["System"] = _system(parsed.system)
    data = parsed.data
    if isinstance(data, EventData):
        doc["EventData"] = event_data_fields(data)
    elif isinstance(data, UserData):
        doc["UserData"] = data.xml
    elif isinstance(data, DebugData):
        doc["DebugData"] = debug_data_fields(data)
    elif isinstance(data, ProcessingErrorData):
        doc["ProcessingErrorData"] = processing_error_fields(data)
    elif isinstance(data, BinaryEventData):
        doc["BinaryEventData"] = data.payload
    if parsed.rendering_info is not None:
        doc["RenderingInfo"] = _rendering_info(parsed.rendering_info)
    doc["OpenWEC"] = openwec_block(parsed, meta)
    return doc


class JsonFormat:
    name = "Json"
    needs_parse = True

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        if parsed is None:
            parsed = parse_event(raw)
        return dumps(json_document(parsed, meta))
