# SPDX-License-Identifier: GPL-3.0-or-later
"""Realistic WEF Events envelopes, generated (no captured data): Security 4624/4625/4688 events
with varying users, hosts, addresses and times, the way a Windows source batches them.

Used by the accel tests (round-trips through the test encoder) and by ``bench/``.
"""

from __future__ import annotations

import random

__all__ = ["envelope", "event_xml"]

_USERS_LATIN = ["alice", "bob", "svc_backup", "Administrator", "jdoe", "François", "Søren", "Zoë"]
_USERS_CJK = ["山田太郎", "李小龙", "김철수", "田中花子", "王芳"]
_EMOJI = ["🔐", "🖥️", "📁", "✅", "🚀"]
_PROCESSES = [
    "C:\\Windows\\System32\\svchost.exe",
    "C:\\Windows\\System32\\lsass.exe",
    "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "C:\\Windows\\explorer.exe",
]


def event_xml(rng: random.Random, record_id: int, *, cjk: bool = False) -> str:
    """One Windows event as rendered XML (System, EventData, RenderingInfo)."""
    event_id = rng.choice([4624, 4625, 4688])
    user = rng.choice(_USERS_CJK if cjk else _USERS_LATIN)
    if cjk:
        user += rng.choice(_EMOJI)
    host = f"WS{rng.randrange(1000):03d}.corp.example.com"
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    ts = (
        f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}."
        f"{rng.randrange(10**7):07d}Z"
    )
    domain = "-".join(str(rng.randrange(10**9)) for _ in range(3))
    sid = f"S-1-5-21-{domain}-{rng.randrange(500, 5000)}"
    logon_id = f"0x{rng.randrange(1 << 32):x}"
    proc = rng.choice(_PROCESSES)
    data = {
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": f"{host.split('.')[0]}$",
        "TargetUserSid": sid,
        "TargetUserName": user,
        "TargetLogonId": logon_id,
        "LogonType": str(rng.choice([2, 3, 10])),
        "AuthenticationPackageName": "Negotiate",
        "WorkstationName": host.split(".")[0],
        "ProcessName": proc,
        "IpAddress": ip,
        "IpPort": str(rng.randrange(1024, 65536)),
    }
    fields = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data.items())
    message = (
        f"An account was successfully logged on.\r\n\r\n"
        f"New Logon:\r\n\tAccount Name:\t\t{user}\r\n\tSource Network Address:\t{ip}"
    )
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-Security-Auditing'/>"
        f"<EventID>{event_id}</EventID><Version>2</Version><Level>0</Level><Task>12544</Task>"
        "<Keywords>0x8020000000000000</Keywords>"
        f"<TimeCreated SystemTime='{ts}'/><EventRecordID>{record_id}</EventRecordID>"
        f"<Execution ProcessID='{rng.randrange(400, 900)}' ThreadID='{rng.randrange(1000, 9000)}'/>"
        f"<Channel>Security</Channel><Computer>{host}</Computer><Security/></System>"
        f"<EventData>{fields}</EventData>"
        "<RenderingInfo Culture='en-US'><Message>"
        f"{message}</Message>"
        "<Keywords><Keyword>Audit Success</Keyword></Keywords></RenderingInfo></Event>"
    )


def envelope(n_events: int, *, seed: int = 1, cjk: bool = False) -> str:
    """A SOAP Events envelope carrying ``n_events`` events (as Windows batches them)."""
    rng = random.Random(seed)
    events = "".join(
        '<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event">'
        f"{event_xml(rng, 1_000_000 + i, cjk=cjk)}</w:Event>"
        for i in range(n_events)
    )
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
        "<s:Header><a:To>http://wec.corp.example.com:5985/wsman/subscriptions/"
        "B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1</a:To>"
        '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events'
        "</a:Action></s:Header>"
        f"<s:Body><w:Events>{events}</w:Events></s:Body></s:Envelope>"
    )
