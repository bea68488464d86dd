# SPDX-License-Identifier: GPL-3.0-or-later
"""Formatting throughput per format, in events per second, on two sets of events:

* ``corpus``: real Windows events (the EVTX-derived corpus of ``shared/vectors/corpus``, one
  event in four, about 2 000; skipped when the vectors are absent);
* ``generated``: the project's own WEF-shaped events (RenderedText Security logons, Sysmon
  events, unnamed data with Binary, UserData), 2 000 of them.

Baselines measured in the same run: ``xml.etree.ElementTree.fromstring`` and
``lxml.etree.fromstring`` of every event (the floor under ``parse_event``), and stdlib
``json.dumps`` of the very documents the Json format writes (what orjson replaces).

Run: ``.venv/bin/pytest bench/test_bench_formats.py -p no:cacheprovider``; the events/s figures
are in each benchmark's ``extra_info`` (``--benchmark-json=out.json``) and in the table's
``OPS`` column multiplied by the batch size.
"""

from __future__ import annotations

import gzip
import json
import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from wec.formats import FORMAT_NAMES, EventMeta, format_batch, get_format
from wec.formats.event_xml import parse_event
from wec.formats.json import json_document

N = 2000
META = EventMeta(
    ip="10.20.30.40",
    time_received=datetime(2025, 3, 4, 10, 15, 26, 482913, tzinfo=UTC),
    principal="WS042$@CORP.EXAMPLE",
    subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
    subscription_version="3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
    subscription_name="security-core",
    node="node-a",
)
_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _system(provider: str, event_id: str, level: str, keywords: str, channel: str, record: int) -> str:
    return (
        f"<System>{provider}{event_id}<Version>2</Version><Level>{level}</Level><Task>12544</Task>"
        f"<Opcode>0</Opcode><Keywords>{keywords}</Keywords>"
        "<TimeCreated SystemTime='2025-03-04T10:15:21.9071234Z'/>"
        f"<EventRecordID>{record}</EventRecordID>"
        "<Correlation ActivityID='{0d3f6a2b-91c4-0001-7be2-3f0d4c91db01}'/>"
        f"<Execution ProcessID='812' ThreadID='3304'/><Channel>{channel}</Channel>"
        "<Computer>ws042.corp.example</Computer><Security UserID='S-1-5-18'/></System>"
    )


def _generated(i: int) -> str:
    kind = i % 4
    if kind == 0:  # RenderedText Security logon, about 2 KB
        data = "".join(f"<Data Name='Field{k}'>value-{k}-{i}</Data>" for k in range(20))
        body = f"<EventData>{data}</EventData>"
        ren = (
            "<RenderingInfo Culture='en-US'>"
            "<Message>An account was successfully logged on.&#13;&#10;&#13;&#10;"
            "Subject:&#13;&#10;\tSecurity ID:\t\tS-1-5-18&#13;&#10;\tAccount Name:\t\tWS042$</Message>"
            "<Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>Security</Channel>"
            "<Provider>Microsoft Windows security auditing.</Provider><Keywords><Keyword>Audit Success"
            "</Keyword></Keywords></RenderingInfo>"
        )
        sys_ = _system(
            "<Provider Name='Microsoft-Windows-Security-Auditing'"
            " Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>",
            "<EventID>4624</EventID>",
            "0",
            "0x8020000000000000",
            "Security",
            i,
        )
    elif kind == 1:  # Sysmon process creation, Raw (no rendering)
        body = (
            "<EventData><Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>"
            f"<Data Name='CommandLine'>cmd.exe /c echo {i} &amp; exit</Data>"
            "<Data Name='User'>CORP\\alice</Data><Data Name='Hashes'>SHA256=9F1C2D0E8A7B6C5D4E3F2A1B0C9D8E7F"
            "</Data></EventData>"
        )
        ren = ""
        sys_ = _system(
            "<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>",
            "<EventID>1</EventID>",
            "4",
            "0x8000000000000000",
            "Microsoft-Windows-Sysmon/Operational",
            i,
        )
    elif kind == 2:  # classic event: unnamed data and Binary
        body = (
            "<EventData><Data>Windows Update</Data><Data>running</Data>"
            "<Binary>7700750061007500</Binary></EventData>"
        )
        ren = (
            "<RenderingInfo Culture='en-US'>"
            "<Message>The service entered the running state.</Message></RenderingInfo>"
        )
        sys_ = _system(
            "<Provider Name='Service Control Manager'/>",
            "<EventID Qualifiers='16384'>7036</EventID>",
            "4",
            "0x8080000000000000",
            "System",
            i,
        )
    else:  # UserData
        body = (
            "<UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
            "<SubjectUserName>alice</SubjectUserName></LogFileCleared></UserData>"
        )
        ren = ""
        sys_ = _system(
            "<Provider Name='Microsoft-Windows-Eventlog'/>",
            "<EventID>1102</EventID>",
            "4",
            "0x4020000000000000",
            "Security",
            i,
        )
    return f"<Event xmlns='{_NS}'>{sys_}{body}{ren}</Event>"


def _corpus() -> list[str] | None:
    env = os.environ.get("WEC_VECTORS")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "vectors"
    path = root / "corpus" / "evtx-attack-samples.jsonl.gz"
    if not path.exists():
        return None
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        events = [json.loads(line)["xml"] for line in fh]
    return events[::4][:N]


_SETS: dict[str, list[str] | None] = {"generated": [_generated(i) for i in range(N)], "corpus": _corpus()}


@pytest.fixture(params=["corpus", "generated"])
def events(request: pytest.FixtureRequest) -> list[str]:
    evs = _SETS[request.param]
    if evs is None:
        pytest.skip("the event corpus (shared/vectors/corpus) is not available")
    return evs


def _rate(benchmark: Any, n: int) -> None:
    benchmark.extra_info["events"] = n
    benchmark.extra_info["events_per_second"] = round(n / benchmark.stats.stats.mean)
    benchmark.extra_info["events_per_second_best_round"] = round(n / benchmark.stats.stats.min)


def _run(benchmark: Any, fn: Any, *args: Any) -> Any:
    return benchmark.pedantic(fn, args=args, rounds=5, iterations=1, warmup_rounds=1)


# --- end to end: format_batch with one format (parse included for Json and Nxlog) ---------


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_format_batch_one_format(benchmark: Any, events: list[str], name: str) -> None:
    fmt = get_format(name)
    result = _run(benchmark, format_batch, events, META, [fmt])
    assert len(result.records[name]) == len(events)
    _rate(benchmark, len(events))


def test_format_batch_all_four_formats(benchmark: Any, events: list[str]) -> None:
    formats = [get_format(n) for n in FORMAT_NAMES]
    result = _run(benchmark, format_batch, events, META, formats)
    assert all(len(r) == len(events) for r in result.records.values())
    _rate(benchmark, len(events))


# --- the two halves: parsing, and serialising an already parsed event ----------------------


def test_parse_event(benchmark: Any, events: list[str]) -> None:
    parsed = _run(benchmark, lambda evs: [parse_event(r) for r in evs], events)
    assert all(p.system is not None for p in parsed)
    _rate(benchmark, len(events))


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_serialise_only(benchmark: Any, events: list[str], name: str) -> None:
    fmt = get_format(name)
    parsed = [parse_event(r) for r in events]

    def serialise() -> list[bytes | None]:
        return [fmt.format(r, p, META) for r, p in zip(events, parsed, strict=True)]

    out = _run(benchmark, serialise)
    assert all(o is not None for o in out)
    _rate(benchmark, len(events))


# --- baselines ------------------------------------------------------------------------------


def test_baseline_stdlib_elementtree_parse(benchmark: Any, events: list[str]) -> None:
    _run(benchmark, lambda evs: [ET.fromstring(r) for r in evs], events)
    _rate(benchmark, len(events))


def test_baseline_lxml_fromstring(benchmark: Any, events: list[str]) -> None:
    data = [r.encode("utf-8") for r in events]
    _run(benchmark, lambda evs: [etree.fromstring(d) for d in evs], data)
    _rate(benchmark, len(events))


def test_baseline_stdlib_json_dumps_of_the_json_documents(benchmark: Any, events: list[str]) -> None:
    docs = [json_document(parse_event(r), META) for r in events]
    _run(
        benchmark,
        lambda ds: [json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode() for d in ds],
        docs,
    )
    _rate(benchmark, len(events))
