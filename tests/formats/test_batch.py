# SPDX-License-Identifier: GPL-3.0-or-later
"""The format registry and format_batch: one parse per event, per-format drops counted."""

from __future__ import annotations

import json

import pytest

import wec.formats
from tests.formats.factory import META, event_xml, generated_events
from wec.formats import FORMAT_NAMES, BatchResult, EventMeta, format_batch, get_format
from wec.formats.event_xml import ErrorType, ParsedEvent


def test_the_four_formats_by_their_openwec_names() -> None:
    assert FORMAT_NAMES == ("Raw", "RawJson", "Json", "Nxlog")
    for name in FORMAT_NAMES:
        assert get_format(name).name == name
    assert [get_format(n).needs_parse for n in FORMAT_NAMES] == [False, False, True, True]


def test_format_names_are_case_insensitive() -> None:
    assert get_format("json") is get_format("Json")
    assert get_format("RAWJSON").name == "RawJson"


def test_an_unknown_format_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown format 'Xml'.*Raw, RawJson, Json, Nxlog"):
        get_format("Xml")


class _CountingParse:
    def __init__(self) -> None:
        self.calls = 0
        self._real = wec.formats.parse_event

    def __call__(self, raw: str) -> ParsedEvent:
        self.calls += 1
        return self._real(raw)


def test_each_event_is_parsed_once_for_all_parsing_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _CountingParse()
    monkeypatch.setattr(wec.formats, "parse_event", spy)
    events = generated_events(10)
    result = format_batch(events, META, [get_format(n) for n in FORMAT_NAMES] + [get_format("json")])
    assert spy.calls == 10
    assert {n: len(r) for n, r in result.records.items()} == dict.fromkeys(FORMAT_NAMES, 10)
    assert len(result.parsed) == 10


def test_no_parsing_when_no_format_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _CountingParse()
    monkeypatch.setattr(wec.formats, "parse_event", spy)
    result = format_batch(generated_events(5), META, [get_format("Raw"), get_format("RawJson")])
    assert spy.calls == 0
    assert result.parsed == []
    assert result.parse_errors == {}


def test_records_keep_the_batch_order() -> None:
    events = [event_xml().replace("775201", str(i)) for i in range(5)]
    result = format_batch(events, META, [get_format("Json"), get_format("Raw")])
    assert [json.loads(r)["System"]["EventRecordID"] for r in result.records["Json"]] == [0, 1, 2, 3, 4]
    assert result.records["Raw"] == [e.encode() for e in events]


def test_parse_errors_are_counted_by_type_and_the_events_still_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = generated_events(10)  # every fifth one has a truncated RenderingInfo
    events.append("<Event xmlns='http://")
    with caplog.at_level("INFO", logger="wec.formats"):
        result = format_batch(events, META, [get_format("Json")])
    assert "2 of 11 events of this batch could not be read as-is (RawContentRecovered)" in caplog.text
    assert "1 of 11 events of this batch could not be read as-is (Unrecoverable)" in caplog.text
    assert result.parse_errors == {ErrorType.RAW_CONTENT_RECOVERED: 2, ErrorType.UNRECOVERABLE: 1}
    assert len(result.records["Json"]) == 11
    assert result.failures == {"Json": 0}
    assert result.dropped == 0


class _PickyFormat:
    """A real format object that refuses some events (None) and fails on others (raises)."""

    name = "Picky"
    needs_parse = True

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        assert parsed is not None
        if parsed.system is not None and parsed.system.event_record_id == 1:
            return None
        if parsed.system is not None and parsed.system.event_record_id == 2:
            raise RuntimeError("formatter bug")
        return b"ok"


def test_a_format_dropping_an_event_drops_it_from_that_format_only(caplog: pytest.LogCaptureFixture) -> None:
    events = [event_xml().replace("775201", str(i)) for i in range(4)]
    result: BatchResult = format_batch(events, META, [_PickyFormat(), get_format("Json")])
    assert result.records["Picky"] == [b"ok", b"ok"]
    assert result.failures == {"Picky": 2, "Json": 0}
    assert result.dropped == 2
    assert len(result.records["Json"]) == 4
    assert "formatter bug" in caplog.text
    assert "Picky dropped 2 of 4" in caplog.text


def test_an_empty_batch_gives_empty_records() -> None:
    result = format_batch([], META, [get_format("Nxlog")])
    assert result.records == {"Nxlog": []}
    assert result.failures == {"Nxlog": 0}


def test_a_parser_bug_keeps_the_event_as_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: str) -> ParsedEvent:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(wec.formats, "parse_event", broken)
    result = format_batch(["<x/>"], META, [get_format("Json")])
    assert result.parse_errors == {ErrorType.UNKNOWN: 1}
    doc = json.loads(result.records["Json"][0])
    assert doc["OpenWEC"]["Error"] == {"OriginalContent": "<x/>", "Type": "Unknown"}


def test_raw_alone_gives_the_records_of_the_format_event_by_event() -> None:
    raw = get_format("Raw")
    for events in (
        generated_events(12),
        [*generated_events(3), "<E>lone \ud800 surrogate</E>", "<E>é€😀</E>"],
    ):
        result = format_batch(events, META, [raw])
        assert result.records == {"Raw": [raw.format(e, None, META) for e in events]}
        assert result.failures == {"Raw": 0}
        assert result.raw_for("Raw", events) == tuple(events)
