# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic Windows events in the form the WinRM forwarder puts inside ``w:Event`` CDATA.

Theory of operation. A simulated machine owns an :class:`EventLog`: an ordered, deterministic
sequence of entries ``(index, kind, channel, record_id)``. Record ids increase by one per
channel, as in a real event log, so ``(Computer, Channel, EventRecordID)`` is unique per
machine and is the key used for exactly-once counting (docs/protocol.md §8.2).
The XML of an entry is rendered on demand by :func:`render_event`; its random content is
seeded by the key, so the same key always renders the same bytes (a resent event is
byte-identical, as from Windows).

The form follows docs/protocol.md §10.1: default namespace ``…/win/2004/08/events/event``,
single-quoted attributes, no indentation, ``TimeCreated@SystemTime`` with 7 fractional digits
and ``Z``, and, for RenderedText, a ``RenderingInfo Culture='en-US'`` whose ``Message`` keeps
real CR LF and tabs. All message texts here are our own wording.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

__all__ = [
    "DEFAULT_MIX",
    "EVENT_KINDS",
    "EventKey",
    "EventLog",
    "LogEntry",
    "bookmark_event",
    "format_system_time",
    "key_from_json",
    "key_from_line",
    "key_from_xml",
    "keys_in_raw_text",
    "render_event",
]

EVENT_NS: Final = "http://schemas.microsoft.com/win/2004/08/events/event"

# Event kinds: name -> channel. The weights of DEFAULT_MIX roughly follow a workstation's
# Security-heavy forwarding profile.
EVENT_KINDS: Final[Mapping[str, str]] = {
    "4624": "Security",
    "4625": "Security",
    "4688": "Security",
    "7036": "System",
    "1000": "Application",
}
DEFAULT_MIX: Final[Mapping[str, float]] = {"4624": 4, "4625": 1, "4688": 3, "7036": 1.5, "1000": 0.5}


class EventKey(NamedTuple):
    """The exactly-once key of one event: unique per simulated machine and channel."""

    computer: str
    channel: str
    record_id: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int  # position in the machine's log (0-based), drives TimeCreated
    kind: str  # a key of EVENT_KINDS
    channel: str
    record_id: int


class EventLog:
    """The deterministic event log of one machine: ``count`` entries over several channels.

    ``first_record_ids`` gives each channel's first EventRecordID; by default it is derived
    from the seed so that machines look like long-running hosts (ids in the thousands).
    """

    def __init__(
        self,
        computer: str,
        count: int,
        seed: int = 0,
        mix: Mapping[str, float] | None = None,
        first_record_ids: Mapping[str, int] | None = None,
    ) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        mix = dict(mix if mix is not None else DEFAULT_MIX)
        unknown = set(mix) - set(EVENT_KINDS)
        if unknown or not mix or any(w <= 0 for w in mix.values()):
            raise ValueError(f"bad event mix {mix!r}: kinds must be among {sorted(EVENT_KINDS)}, weights > 0")
        self.computer = computer
        self.count = count
        self.seed = seed
        self._kinds = list(mix)
        self._weights = [float(mix[k]) for k in self._kinds]
        self.channels = tuple(sorted({EVENT_KINDS[k] for k in self._kinds}))
        firsts = dict(first_record_ids or {})
        for ch in self.channels:
            if ch not in firsts:
                firsts[ch] = random.Random(f"{seed}/{computer}/{ch}/first").randint(1_000, 900_000)
        self.first_record_ids: Mapping[str, int] = firsts

    def entries(self) -> Iterator[LogEntry]:
        """All entries in log order. Each call restarts from the first entry."""
        rng = random.Random(f"{self.seed}/{self.computer}/kinds")
        next_id = dict(self.first_record_ids)
        for index in range(self.count):
            kind = rng.choices(self._kinds, self._weights)[0]
            channel = EVENT_KINDS[kind]
            record_id = next_id[channel]
            next_id[channel] = record_id + 1
            yield LogEntry(index, kind, channel, record_id)


# ---------------------------------------------------------------------------------------------
# Rendering


def format_system_time(t: datetime) -> str:
    """``2022-09-22T07:49:32.0356778Z``: FILETIME precision (100 ns), 7 digits, UTC."""
    t = t.astimezone(UTC)
    ticks = t.microsecond * 10
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ticks:07d}Z"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    # Attributes are single-quoted in forwarded XML, so ' must be escaped, " need not be.
    return _text(value).replace("'", "&apos;")


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"


_USERS: Final = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "svc_backup", "svc_sql")
_PROCESSES: Final = (
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Mozilla Firefox\firefox.exe",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Windows\explorer.exe",
)
_SERVICES: Final = (
    "Windows Update",
    "Print Spooler",
    "Background Intelligent Transfer Service",
    "WinHTTP Web Proxy Auto-Discovery Service",
    "Windows Remote Management (WS-Management)",
)
_APPS: Final = ("notepad.exe", "excel.exe", "chrome.exe", "teams.exe", "acmeagent.exe")


@dataclass(frozen=True, slots=True)
class _System:
    provider: str
    guid: str | None
    event_source: str | None
    event_id: int
    qualifiers: int | None
    version: int
    level: int
    task: int
    opcode: int
    keywords: str


@dataclass(frozen=True, slots=True)
class _Rendering:
    message: str
    level: str
    task: str
    opcode: str
    provider: str
    keywords: tuple[str, ...]


_SECURITY_GUID: Final = "{54849625-5478-4994-a5ba-3e3b0328c30d}"


def _logon(
    rng: random.Random, computer: str, success: bool
) -> tuple[_System, list[tuple[str, str]], _Rendering]:
    user = rng.choice(_USERS)
    domain = computer.split(".")[0].upper()
    logon_type = rng.choice(("2", "3", "5", "10"))
    ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    port = str(rng.randint(49152, 65535))
    logon_id = f"0x{rng.getrandbits(24):x}"
    data = [
        ("SubjectUserSid", "S-1-5-18"),
        ("SubjectUserName", f"{domain}$"),
        ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", "0x3e7"),
        (
            "TargetUserSid",
            f"S-1-5-21-1004336348-1177238915-682003330-{rng.randint(1000, 9999)}" if success else "S-1-0-0",
        ),
        ("TargetUserName", user),
        ("TargetDomainName", "CORP"),
    ]
    if success:
        data += [("TargetLogonId", logon_id), ("LogonType", logon_type)]
    else:
        data += [
            ("Status", "0xc000006d"),
            ("FailureReason", "%%2313"),
            ("SubStatus", "0xc000006a"),
            ("LogonType", logon_type),
        ]
    data += [
        ("LogonProcessName", "User32 " if logon_type == "2" else "NtLmSsp "),
        ("AuthenticationPackageName", "Negotiate"),
        ("WorkstationName", domain),
        ("IpAddress", ip),
        ("IpPort", port),
    ]
    if success:
        system = _System(
            "Microsoft-Windows-Security-Auditing",
            _SECURITY_GUID,
            None,
            4624,
            None,
            2,
            0,
            12544,
            0,
            "0x8020000000000000",
        )
        message = (
            "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tSYSTEM\r\n"
            f"\tAccount Name:\t\t{domain}$\r\n\tAccount Domain:\t\tCORP\r\n\tLogon ID:\t\t0x3E7\r\n\r\n"
            f"Logon Information:\r\n\tLogon Type:\t\t{logon_type}\r\n\r\nNew Logon:\r\n"
            f"\tAccount Name:\t\t{user}\r\n\tAccount Domain:\t\tCORP\r\n\tLogon ID:\t\t{logon_id}\r\n\r\n"
            f"Network Information:\r\n\tWorkstation Name:\t{domain}\r\n\tSource Network Address:\t{ip}\r\n"
            f"\tSource Port:\t\t{port}\r\n\r\n"
            "This event is generated when a logon session is created on this computer."
        )
        keywords: tuple[str, ...] = ("Audit Success",)
    else:
        system = _System(
            "Microsoft-Windows-Security-Auditing",
            _SECURITY_GUID,
            None,
            4625,
            None,
            0,
            0,
            12544,
            0,
            "0x8010000000000000",
        )
        message = (
            "An account failed to log on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tSYSTEM\r\n"
            f"\tAccount Name:\t\t{domain}$\r\n\r\nAccount For Which Logon Failed:\r\n"
            f"\tAccount Name:\t\t{user}\r\n\tAccount Domain:\t\tCORP\r\n\r\n"
            "Failure Information:\r\n\tFailure Reason:\t\tUnknown user name or bad password.\r\n"
            f"\tStatus:\t\t\t0xC000006D\r\n\r\nNetwork Information:\r\n\tSource Network Address:\t{ip}\r\n"
            f"\tSource Port:\t\t{port}"
        )
        keywords = ("Audit Failure",)
    return (
        system,
        data,
        _Rendering(message, "Information", "Logon", "Info", "Microsoft Windows security auditing.", keywords),
    )


def _process(rng: random.Random, computer: str) -> tuple[_System, list[tuple[str, str]], _Rendering]:
    user = rng.choice(_USERS)
    image = rng.choice(_PROCESSES)
    parent = rng.choice(_PROCESSES)
    pid = f"0x{rng.randint(0x100, 0xFFFF):x}"
    cmd = f'"{image}" /c echo {rng.getrandbits(32):08x} & exit <nul'
    data = [
        ("SubjectUserSid", f"S-1-5-21-1004336348-1177238915-682003330-{rng.randint(1000, 9999)}"),
        ("SubjectUserName", user),
        ("SubjectDomainName", "CORP"),
        ("SubjectLogonId", f"0x{rng.getrandbits(24):x}"),
        ("NewProcessId", pid),
        ("NewProcessName", image),
        ("TokenElevationType", "%%1938"),
        ("ProcessId", f"0x{rng.randint(0x100, 0xFFFF):x}"),
        ("CommandLine", cmd),
        ("TargetUserSid", "S-1-0-0"),
        ("TargetUserName", "-"),
        ("TargetDomainName", "-"),
        ("TargetLogonId", "0x0"),
        ("ParentProcessName", parent),
        ("MandatoryLabel", "S-1-16-8192"),
    ]
    system = _System(
        "Microsoft-Windows-Security-Auditing",
        _SECURITY_GUID,
        None,
        4688,
        None,
        2,
        0,
        13312,
        0,
        "0x8020000000000000",
    )
    message = (
        "A new process has been created.\r\n\r\nCreator Subject:\r\n"
        f"\tAccount Name:\t\t{user}\r\n\tAccount Domain:\t\tCORP\r\n\r\nProcess Information:\r\n"
        f"\tNew Process ID:\t\t{pid}\r\n\tNew Process Name:\t{image}\r\n"
        f"\tProcess Command Line:\t{cmd}\r\n\tCreator Process Name:\t{parent}"
    )
    return (
        system,
        data,
        _Rendering(
            message,
            "Information",
            "Process Creation",
            "Info",
            "Microsoft Windows security auditing.",
            ("Audit Success",),
        ),
    )


def _service(rng: random.Random, computer: str) -> tuple[_System, list[tuple[str, str]], _Rendering]:
    service = rng.choice(_SERVICES)
    state = rng.choice(("running", "stopped"))
    binary = service.encode("utf-16-le")[:16].hex().upper()
    data = [("param1", service), ("param2", state), ("Binary", binary)]
    system = _System(
        "Service Control Manager",
        "{555908d1-a6d7-4695-8e1e-26931d2012f4}",
        "Service Control Manager",
        7036,
        16384,
        0,
        4,
        0,
        0,
        "0x8080000000000000",
    )
    return (
        system,
        data,
        _Rendering(
            f"The {service} service entered the {state} state.",
            "Information",
            "",
            "",
            "Service Control Manager",
            ("Classic",),
        ),
    )


def _crash(rng: random.Random, computer: str) -> tuple[_System, list[tuple[str, str]], _Rendering]:
    app = rng.choice(_APPS)
    version = f"{rng.randint(1, 20)}.{rng.randint(0, 9)}.{rng.randint(0, 9999)}.{rng.randint(0, 999)}"
    code = f"0x{rng.choice(('c0000005', 'c0000409', '80000003'))}"
    offset = f"0x{rng.getrandbits(40):016x}"
    unnamed = [
        app,
        version,
        f"{rng.getrandbits(32):08x}",
        "ntdll.dll",
        "10.0.19041.3636",
        "5d1f4f8c",
        code,
        offset,
        f"0x{rng.randint(0x100, 0xFFFF):x}",
    ]
    data = [("", v) for v in unnamed]
    system = _System("Application Error", None, None, 1000, 0, 0, 2, 100, 0, "0x80000000000000")
    message = (
        f"Faulting application name: {app}, version: {version}\r\n"
        f"Faulting module name: ntdll.dll, version: 10.0.19041.3636\r\nException code: {code}\r\n"
        f"Fault offset: {offset}"
    )
    return (
        system,
        data,
        _Rendering(message, "Error", "Application Crashing Events", "", "Application Error", ("Classic",)),
    )


_BUILDERS: Final = {
    "4624": lambda rng, c: _logon(rng, c, True),
    "4625": lambda rng, c: _logon(rng, c, False),
    "4688": _process,
    "7036": _service,
    "1000": _crash,
}

# Seconds between two log entries; TimeCreated = base + index * step + jitter.
_STEP: Final = timedelta(milliseconds=10)


def render_event(
    entry: LogEntry,
    computer: str,
    base_time: datetime,
    seed: int = 0,
    rendered: bool = False,
    illegal_char: bool = False,
) -> str:
    """The forwarded XML of one log entry (no XML declaration, no indentation).

    ``illegal_char`` puts U+0005 (not allowed in XML 1.0, docs/protocol.md §3.8) inside an
    EventData value, as a robustness probe; the event's key stays extractable.
    """
    rng = random.Random(f"{seed}/{computer}/{entry.channel}/{entry.record_id}")
    system, data, rinfo = _BUILDERS[entry.kind](rng, computer)
    when = base_time + entry.index * _STEP + timedelta(microseconds=rng.randint(0, 9_999))
    if illegal_char and data:
        name, value = data[0]
        data[0] = (name, value + "\x05")
    parts = [f"<Event xmlns='{EVENT_NS}'><System><Provider Name='{_attr(system.provider)}'"]
    if system.guid:
        parts.append(f" Guid='{system.guid}'")
    if system.event_source:
        parts.append(f" EventSourceName='{_attr(system.event_source)}'")
    parts.append("/>")
    if system.qualifiers is not None:
        parts.append(f"<EventID Qualifiers='{system.qualifiers}'>{system.event_id}</EventID>")
    else:
        parts.append(f"<EventID>{system.event_id}</EventID>")
    parts.append(
        f"<Version>{system.version}</Version><Level>{system.level}</Level><Task>{system.task}</Task>"
        f"<Opcode>{system.opcode}</Opcode><Keywords>{system.keywords}</Keywords>"
        f"<TimeCreated SystemTime='{format_system_time(when)}'/>"
        f"<EventRecordID>{entry.record_id}</EventRecordID>"
    )
    if entry.channel == "Security":
        parts.append(f"<Correlation ActivityID='{_guid(rng)}'/>")
    else:
        parts.append("<Correlation/>")
    parts.append(
        f"<Execution ProcessID='{rng.randint(4, 9000)}' ThreadID='{rng.randint(4, 20000)}'/>"
        f"<Channel>{_text(entry.channel)}</Channel><Computer>{_text(computer)}</Computer>"
    )
    parts.append(
        "<Security/>"
        if entry.channel == "Security"
        else f"<Security UserID='S-1-5-{rng.choice((18, 19, 20))}'/>"
    )
    parts.append("</System><EventData>")
    for name, value in data:
        if name == "Binary":
            parts.append(f"<Binary>{value}</Binary>")
        elif name:
            parts.append(f"<Data Name='{_attr(name)}'>{_text(value)}</Data>")
        else:
            parts.append(f"<Data>{_text(value)}</Data>")
    parts.append("</EventData>")
    if rendered:
        parts.append(
            f"<RenderingInfo Culture='en-US'><Message>{_text(rinfo.message)}</Message>"
            f"<Level>{_text(rinfo.level)}</Level><Task>{_text(rinfo.task)}</Task>"
            f"<Opcode>{_text(rinfo.opcode)}</Opcode><Channel>{_text(entry.channel)}</Channel>"
            f"<Provider>{_text(rinfo.provider)}</Provider><Keywords>"
            + "".join(f"<Keyword>{_text(k)}</Keyword>" for k in rinfo.keywords)
            + "</Keywords></RenderingInfo>"
        )
    parts.append("</Event>")
    return "".join(parts)


def bookmark_event(computer: str, when: datetime) -> str:
    """Event 111 of ``Microsoft-Windows-EventForwarder`` (docs/protocol.md §9).

    Its System holds only Provider, EventID, TimeCreated and Computer, so it has no key:
    :func:`key_from_xml` returns ``None`` for it.
    """
    t = when.astimezone(UTC)
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}Z"
    return (
        f"<Event xmlns='{EVENT_NS}'><System><Provider Name='Microsoft-Windows-EventForwarder'/>"
        f"<EventID>111</EventID><TimeCreated SystemTime='{stamp}'/><Computer>{_text(computer)}</Computer>"
        "</System><SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent></Event>"
    )


# ---------------------------------------------------------------------------------------------
# Key extraction from what the collector wrote. Regex, not an XML parser: the events that carry
# U+0005 are not well-formed XML, yet their key must still be countable.

_SYSTEM_RE: Final = re.compile(r"<System>(.*?)</System>", re.S)
_COMPUTER_RE: Final = re.compile(r"<Computer>([^<]*)</Computer>")
_CHANNEL_RE: Final = re.compile(r"<Channel>([^<]*)</Channel>")
_RECORD_RE: Final = re.compile(r"<EventRecordID>\s*(\d+)\s*</EventRecordID>")


def _unescape(s: str) -> str:
    return (
        s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", '"')
        .replace("&amp;", "&")
    )


def key_from_xml(xml: str) -> EventKey | None:
    """The key of one event's XML, or ``None`` if it has no Computer/Channel/EventRecordID."""
    m = _SYSTEM_RE.search(xml)
    if m is None:
        return None
    system = m.group(1)
    c, ch, r = _COMPUTER_RE.search(system), _CHANNEL_RE.search(system), _RECORD_RE.search(system)
    if c is None or ch is None or r is None:
        return None
    return EventKey(_unescape(c.group(1).strip()), _unescape(ch.group(1).strip()), int(r.group(1)))


def key_from_json(obj: Mapping[str, object]) -> EventKey | None:
    """The key of one record of the Json, RawJson or Nxlog formats (docs/protocol.md §10.2)."""
    system = obj.get("System")
    if isinstance(system, Mapping):
        computer, channel, record = system.get("Computer"), system.get("Channel"), system.get("EventRecordID")
    elif isinstance(obj.get("data"), str):  # RawJson
        return key_from_xml(str(obj["data"]))
    else:  # Nxlog: flat
        computer, channel, record = obj.get("Hostname"), obj.get("Channel"), obj.get("RecordNumber")
    if not isinstance(computer, str) or not isinstance(channel, str) or record is None:
        return None
    try:
        return EventKey(computer, channel, int(str(record)))
    except ValueError:
        return None


def key_from_line(line: str | bytes) -> EventKey | None:
    """The key of one output record: a JSON object line, or one Raw event XML."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            return None
        return key_from_json(obj) if isinstance(obj, dict) else None
    return key_from_xml(stripped)


_EVENT_RE: Final = re.compile(r"<Event[ >].*?</Event>", re.S)


def keys_in_raw_text(text: str) -> list[EventKey | None]:
    """Keys of every event in a Raw output stream, where a ``Message`` may hold newlines, so
    line framing is ambiguous (docs/protocol.md §10.2). One item per event, ``None`` for keyless
    events such as 111."""
    return [key_from_xml(m.group(0)) for m in _EVENT_RE.finditer(text)]
