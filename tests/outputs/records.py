# SPDX-License-Identifier: GPL-3.0-or-later
"""Formatted records for the driver tests: the project's own generated events, in the Raw
(event XML) and Json shapes of docs/protocol.md §10.2. Drivers treat records as opaque bytes, so
these builders are deliberately independent of ``wec.formats``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from wec.formats.base import EventMeta
from wec.outputs.base import OutputBatch

__all__ = ["META", "Event", "batch", "events", "json_record", "raw_record"]

META = EventMeta(
    ip="10.20.30.40",
    time_received=datetime(2025, 3, 4, 10, 15, 26, 482913, tzinfo=UTC),
    principal="WS042$@CORP.EXAMPLE",
    subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
    subscription_version="3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
    subscription_name="security-core",
    node="wec-a",
)


@dataclass(frozen=True)
class Event:
    record_id: int = 775201
    computer: str = "ws042.corp.example"
    channel: str = "Security"
    event_id: int = 4624
    level: int | None = 0
    keywords: str = "0x8020000000000000"
    time_created: str = "2025-03-04T10:15:21.9071234Z"
    provider: str = "Microsoft-Windows-Security-Auditing"
    message: str | None = None  # RenderingInfo/Message; may hold newlines
    client: str = "WS042$@CORP.EXAMPLE"


def raw_record(e: Event) -> bytes:
    """The event XML, as the Raw format passes it on."""
    level = f"<Level>{e.level}</Level>" if e.level is not None else ""
    rendering = (
        f"<RenderingInfo Culture='en-US'><Message>{e.message}</Message></RenderingInfo>" if e.message else ""
    )
    xml = (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        f"<Provider Name='{e.provider}' Guid='{{5484a625-5478-4994-a5ba-3e3b0328c30d}}'/>"
        f"<EventID>{e.event_id}</EventID><Version>2</Version>{level}<Task>12544</Task>"
        f"<Opcode>0</Opcode><Keywords>{e.keywords}</Keywords>"
        f"<TimeCreated SystemTime='{e.time_created}'/><EventRecordID>{e.record_id}</EventRecordID>"
        "<Execution ProcessID='812' ThreadID='3304'/>"
        f"<Channel>{e.channel}</Channel><Computer>{e.computer}</Computer><Security/></System>"
        "<EventData><Data Name='TargetUserName'>alice</Data><Data Name='IpAddress'>10.1.2.3</Data>"
        f"</EventData>{rendering}</Event>"
    )
    return xml.encode("utf-8")


def json_document(e: Event, meta: EventMeta = META) -> dict[str, Any]:
    system: dict[str, Any] = {
        "Provider": {"Name": e.provider, "Guid": "{5484a625-5478-4994-a5ba-3e3b0328c30d}"},
        "EventID": e.event_id,
        "Version": 2,
    }
    if e.level is not None:
        system["Level"] = e.level
    system.update(
        {
            "Task": 12544,
            "Opcode": 0,
            "Keywords": e.keywords,
            "TimeCreated": e.time_created,
            "EventRecordID": e.record_id,
            "Execution": {"ProcessID": 812, "ThreadID": 3304},
            "Channel": e.channel,
            "Computer": e.computer,
        }
    )
    doc: dict[str, Any] = {
        "System": system,
        "EventData": {"TargetUserName": "alice", "IpAddress": "10.1.2.3"},
    }
    if e.message:
        doc["RenderingInfo"] = {"Message": e.message, "Culture": "en-US"}
    doc["OpenWEC"] = {
        "IpAddress": meta.ip,
        "TimeReceived": "2025-03-04T10:15:26.482913705+00:00",
        "Principal": e.client,
        "Client": e.client,
        "Subscription": {
            "Uuid": meta.subscription_uuid,
            "Version": meta.subscription_version,
            "Name": meta.subscription_name,
        },
    }
    return doc


def json_record(e: Event, meta: EventMeta = META) -> bytes:
    """The event as the Json format writes it (one line, no trailing newline)."""
    return orjson.dumps(json_document(e, meta))


def events(count: int, start: int = 1, **fields: Any) -> list[Event]:
    return [Event(record_id=start + i, **fields) for i in range(count)]


def batch(records: list[bytes] | tuple[bytes, ...], meta: EventMeta = META) -> OutputBatch:
    return OutputBatch(records=tuple(records), meta=meta)
