# SPDX-License-Identifier: GPL-3.0-or-later
"""Generated Windows events, written the way WEF forwards them (docs/protocol.md §10.1): single
quoted attributes, no indentation, tabs inside ``Message`` and CR LF as ``&#13;&#10;`` (a literal
CR LF would be read as LF, XML 1.0 §2.11).

Every builder argument is the raw text put in place; ``None`` leaves the element out and ``""``
writes it empty. The values are the project's own, not copied from any capture."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from wec.formats.base import EventMeta

__all__ = [
    "EVENT_NS",
    "META",
    "event_xml",
    "generated_events",
    "rendering_xml",
    "system_xml",
]

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"

# The metadata of docs/protocol.md §10.2's own example.
META = EventMeta(
    ip="10.20.30.40",
    time_received=datetime(2025, 3, 4, 10, 15, 26, 482913, tzinfo=UTC),
    principal="WS042$@CORP.EXAMPLE",
    subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
    subscription_version="3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
    subscription_name="security-core",
)

_DEFAULT = object()


def _el(name: str, value: str | None) -> str:
    if value is None:
        return ""
    return f"<{name}>{value}</{name}>"


def system_xml(
    *,
    provider: str | None = "<Provider Name='Microsoft-Windows-Security-Auditing' "
    "Guid='{5484a625-5478-4994-a5ba-3e3b0328c30d}'/>",
    event_id: str | None = "<EventID>4624</EventID>",
    version: str | None = "2",
    level: str | None = "0",
    task: str | None = "12544",
    opcode: str | None = "0",
    keywords: str | None = "0x8020000000000000",
    time_created: str | None = "<TimeCreated SystemTime='2025-03-04T10:15:21.9071234Z'/>",
    record_id: str | None = "775201",
    correlation: str | None = "<Correlation ActivityID='{0d3f6a2b-91c4-0001-7be2-3f0d4c91db01}'/>",
    execution: str | None = "<Execution ProcessID='812' ThreadID='3304'/>",
    channel: str | None = "Security",
    computer: str | None = "ws042.corp.example",
    container: str | None = None,
    security: str | None = "<Security/>",
    extra: str = "",
) -> str:
    parts = [
        provider or "",
        event_id or "",
        _el("Version", version),
        _el("Level", level),
        _el("Task", task),
        _el("Opcode", opcode),
        _el("Keywords", keywords),
        time_created or "",
        _el("EventRecordID", record_id),
        correlation or "",
        execution or "",
        _el("Channel", channel),
        _el("Computer", computer),
        _el("Container", container),
        security or "",
        extra,
    ]
    return "<System>" + "".join(parts) + "</System>"


def rendering_xml(
    *,
    culture: str | None = "en-US",
    message: str | None = (
        "An account was successfully logged "
        "on.&#13;&#10;&#13;&#10;Subject:&#13;&#10;\tSecurity ID:\t\tS-1-5-18"
    ),
    level: str | None = "Information",
    task: str | None = "Logon",
    opcode: str | None = "Info",
    channel: str | None = "Security",
    provider: str | None = "Microsoft Windows security auditing.",
    keywords: Sequence[str] | None = ("Audit Success",),
) -> str:
    attr = "" if culture is None else f" Culture='{culture}'"
    kws = (
        ""
        if keywords is None
        else "<Keywords>" + "".join(_el("Keyword", k) for k in keywords) + "</Keywords>"
    )
    return (
        f"<RenderingInfo{attr}>"
        + _el("Message", message)
        + _el("Level", level)
        + _el("Task", task)
        + _el("Opcode", opcode)
        + _el("Channel", channel)
        + _el("Provider", provider)
        + kws
        + "</RenderingInfo>"
    )


DEFAULT_BODY = (
    "<EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS042$</Data>"
    "<Data Name='LogonType'>5</Data><Data Name='ProcessName'>C:\\Windows\\System32\\services.exe</Data>"
    "<Data Name='IpAddress'>-</Data></EventData>"
)


def event_xml(
    *,
    system: str | None = None,
    body: str | None = DEFAULT_BODY,
    rendering: str | object | None = _DEFAULT,
) -> str:
    """A whole event: ``system`` defaults to :func:`system_xml()`, ``rendering`` to
    :func:`rendering_xml()`; pass ``rendering=None`` for an event without RenderingInfo."""
    sys_part = system_xml() if system is None else system
    ren = rendering_xml() if rendering is _DEFAULT else (rendering or "")
    return f"<Event xmlns='{EVENT_NS}'>{sys_part}{body or ''}{ren}</Event>"


def generated_events(n: int) -> list[str]:
    """``n`` varied events (every data-section kind, rendered or not, a few malformed),
    deterministic, for batch tests and benchmarks."""
    kinds = [
        lambda i: event_xml(system=system_xml(record_id=str(i))),
        lambda i: event_xml(
            system=system_xml(
                provider=(
                    "<Provider Name='Microsoft-Windows-Sysmon' "
                    "Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"
                ),
                event_id="<EventID>1</EventID>",
                level="4",
                keywords="0x8000000000000000",
                channel="Microsoft-Windows-Sysmon/Operational",
                record_id=str(i),
                security="<Security UserID='S-1-5-18'/>",
            ),
            body="<EventData><Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>"
            f"<Data Name='CommandLine'>cmd.exe /c echo {i} &amp; "
            f"exit</Data><Data Name='User'>CORP\\alice</Data>"
            "<Data "
            "Name='Hashes'>SHA256=9F1C2D0E8A7B6C5D4E3F2A1B0C9D8E7F6A5B4C3D2E1F0A9B8C7D6E5F4A3B2C1D</Data>"
            "</EventData>",
            rendering=None,
        ),
        lambda i: event_xml(
            system=system_xml(
                provider=(
                    "<Provider Name='Service Control Manager' EventSourceName='Service Control Manager'/>"
                ),
                event_id="<EventID Qualifiers='16384'>7036</EventID>",
                level="4",
                keywords="0x8080000000000000",
                channel="System",
                record_id=str(i),
            ),
            body=f"<EventData><Data>Windows Update</Data><Data>running</Data><Data></Data>"
            f"<Binary>770075006100750073007600{i % 10}00000</Binary></EventData>",
            rendering=rendering_xml(message="The Windows Update service entered the running state."),
        ),
        lambda i: event_xml(
            system=system_xml(
                provider=(
                    "<Provider Name='Microsoft-Windows-Eventlog' "
                    "Guid='{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}'/>"
                ),
                event_id="<EventID>1102</EventID>",
                record_id=str(i),
            ),
            body="<UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
            "<SubjectUserName>alice</SubjectUserName><SubjectDomainName>CORP</SubjectDomainName>"
            "</LogFileCleared></UserData>",
        ),
        lambda i: event_xml(
            system=system_xml(record_id=str(i)),
            body=DEFAULT_BODY,
            rendering=(
                "<RenderingInfo Culture='en-US'><Message>An account "
                "was successfully logged on.&#13;&#10;\tSubj"
            ),
        ),
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]
