# SPDX-License-Identifier: GPL-3.0-or-later
"""OpenWEC's own formatter and parser test cases (docs/protocol.md §10.4), read from the shared
vectors (skipped when absent): every case must give the expected document, compared as parsed
JSON values like upstream does."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import vector_path, vectors_dir
from wec.formats import EventMeta, get_format
from wec.formats.event_xml import ErrorType, EventData, ParsedEvent, parse_event

_DIR = ("formats", "openwec")


def _cases() -> list[dict[str, Any]]:
    base = vectors_dir()
    index = None if base is None else base.joinpath(*_DIR, "cases.json")
    if index is None or not index.exists():
        # One placeholder case so that the test reports a skip with its reason.
        return [{"test": "vectors-absent", "format": "absent"}]
    cases: list[dict[str, Any]] = json.loads(index.read_text(encoding="utf-8"))["cases"]
    return cases


def _read(name: str) -> str:
    return Path(vector_path(*_DIR, name)).read_text(encoding="utf-8")


def _meta(m: dict[str, Any]) -> EventMeta:
    sub = m["subscription"]
    return EventMeta(
        ip=m["client_addr"].rsplit(":", 1)[0],
        time_received=datetime.fromisoformat(m["time_received"]),
        principal=m["principal"],
        subscription_uuid=sub["uuid"],
        subscription_version=m["public_version"],
        subscription_name=sub["name"],
        subscription_uri=sub["uri"],
        client_revision=m["client_revision"],
        server_revision=sub["revision"],
        node=m["node_name"],
    )


_CASES = _cases()
_FORMAT_CASES = [c for c in _CASES if c["format"] != "parse"]
_PARSE_CASES = [c for c in _CASES if c["format"] in ("parse", "absent")]


@pytest.mark.parametrize(
    "case", _FORMAT_CASES, ids=[f"{c['format']}-{c.get('input')}" for c in _FORMAT_CASES]
)
def test_format_case(case: dict[str, Any]) -> None:
    if case["format"] == "absent":
        vector_path(*_DIR, "cases.json")  # skips with the reason
    raw = _read(case["input"])
    fmt = get_format(case["format"])
    parsed = parse_event(raw) if fmt.needs_parse else None
    if parsed is not None:
        assert parsed.error is None  # upstream asserts this before formatting
    out = fmt.format(raw, parsed, _meta(case["metadata"]))
    assert out is not None
    if case["compare"] == "bytes_equal_input":
        assert out == raw.encode("utf-8")
    else:
        assert case["compare"] == "json_value"
        assert json.loads(out) == json.loads(_read(case["expected"]))


def _check_system(parsed: ParsedEvent, want: dict[str, Any]) -> None:
    s = parsed.system
    assert s is not None
    got = {
        "provider_name": s.provider.name,
        "provider_guid": s.provider.guid,
        "event_id": s.event_id,
        "version": s.version,
        "level": s.level,
        "task": s.task,
        "opcode": s.opcode,
        "keywords": s.keywords,
        "time_created": s.time_created,
        "event_record_id": s.event_record_id,
        "correlation_activity_id": s.correlation.activity_id if s.correlation else None,
        "execution_process_id": s.execution.process_id if s.execution else None,
        "execution_thread_id": s.execution.thread_id if s.execution else None,
        "channel": s.channel,
        "computer": s.computer,
        "security_user_id": s.user_id,
    }
    for key, value in want.items():
        assert got[key] == value, key


@pytest.mark.parametrize("case", _PARSE_CASES, ids=[str(c.get("input")) for c in _PARSE_CASES])
def test_parse_case(case: dict[str, Any]) -> None:
    if case["format"] == "absent":
        vector_path(*_DIR, "cases.json")
    raw = _read(case["input"])
    want = json.loads(_read(case["expected"]))
    parsed = parse_event(raw)

    if want["error"] is None:
        assert parsed.error is None
    else:
        assert parsed.error is not None
        assert parsed.error.type is ErrorType(want["error"]["type"])
        assert parsed.error.message  # the wording comes from each side's XML parser
        if want["error"]["original_content_equals_input"]:
            assert parsed.error.original_content == raw

    if "System" in want:
        if want["System"] is None:
            assert parsed.system is None
        else:
            _check_system(parsed, want["System"])

    if "EventData" in want:
        kind = want["EventData"]["kind"]
        if kind == "Unknown":
            assert parsed.data is None
        else:
            assert isinstance(parsed.data, EventData)
            named = want["EventData"].get("named") or want["EventData"].get("named_subset") or {}
            for key, value in named.items():
                assert parsed.data.named[key] == value

    if "RenderingInfo" in want:
        r = want["RenderingInfo"]
        if r is None:
            assert parsed.rendering_info is None
        else:
            ri = parsed.rendering_info
            assert ri is not None
            got = {
                "culture": ri.culture,
                "message": ri.message,
                "level": ri.level,
                "task": ri.task,
                "opcode": ri.opcode,
                "channel": ri.channel,
                "provider": ri.provider,
                "keywords": ri.keywords,
            }
            for key, value in r.items():
                assert got[key] == value, key
