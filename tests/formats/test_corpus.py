# SPDX-License-Identifier: GPL-3.0-or-later
"""The real-event corpus (8 000+ EVTX-derived events and the ill-formed ones, docs/protocol.md §10.4)
through every format: no crash, and every event accounted for (one record per format)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.formats.factory import META
from tests.support.vectors import vector_path
from wec.formats import FORMAT_NAMES, format_batch, get_format
from wec.formats.event_xml import ErrorType

pytestmark = pytest.mark.slow


def _load(name: str) -> list[dict[str, Any]]:
    path = Path(vector_path("corpus", name))
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, Any]]:
    return _load("evtx-attack-samples.jsonl.gz")


@pytest.fixture(scope="module")
def illformed() -> list[dict[str, Any]]:
    return _load("evtx-attack-samples.illformed.jsonl.gz")


ALL_FORMATS = [get_format(n) for n in FORMAT_NAMES]


def test_every_corpus_event_gives_one_record_per_format(corpus: list[dict[str, Any]]) -> None:
    raws = [e["xml"] for e in corpus]
    result = format_batch(raws, META, ALL_FORMATS)
    assert result.failures == dict.fromkeys(FORMAT_NAMES, 0)
    assert {n: len(r) for n, r in result.records.items()} == dict.fromkeys(FORMAT_NAMES, len(raws))
    assert result.parse_errors == {}  # every event of the main file is well-formed

    for rec, parsed in zip(corpus, result.parsed, strict=True):
        s = parsed.system
        assert s is not None
        # The fields the corpus index extracted on its own agree with ours.
        assert (s.channel, s.event_id, s.provider.name, s.computer, s.event_record_id) == (
            rec["channel"],
            rec["event_id"],
            rec["provider"],
            rec["computer"],
            rec["record_id"],
        )
    # The corpus has EventData, UserData and one ProcessingErrorData (WinRM 15005).
    kinds = Counter(type(p.data).__name__ for p in result.parsed)
    assert set(kinds) == {"EventData", "UserData", "ProcessingErrorData"}
    assert [r.decode() for r in result.records["Raw"]] == raws


def test_every_corpus_record_is_valid_json(corpus: list[dict[str, Any]]) -> None:
    result = format_batch(
        [e["xml"] for e in corpus], META, [get_format("Json"), get_format("Nxlog"), get_format("RawJson")]
    )
    for rec, js, nx, rj in zip(
        corpus, result.records["Json"], result.records["Nxlog"], result.records["RawJson"], strict=True
    ):
        j = json.loads(js)
        assert j["System"]["EventID"] == rec["event_id"]
        assert "Error" not in j["OpenWEC"]
        n = json.loads(nx)
        assert n["EventID"] == rec["event_id"]
        assert n["Hostname"] == rec["computer"]
        assert json.loads(rj)["data"] == rec["xml"]


def test_ill_formed_events_are_kept_with_their_original_text(illformed: list[dict[str, Any]]) -> None:
    raws = [e["xml"] for e in illformed]
    result = format_batch(raws, META, ALL_FORMATS)
    assert result.failures == dict.fromkeys(FORMAT_NAMES, 0)
    assert result.parse_errors == {ErrorType.UNRECOVERABLE: len(raws)}  # no RenderingInfo to cut at
    for raw, js, nx in zip(raws, result.records["Json"], result.records["Nxlog"], strict=True):
        for doc in (json.loads(js), json.loads(nx)):
            assert doc["OpenWEC"]["Error"]["Type"] == "Unrecoverable"
            assert doc["OpenWEC"]["Error"]["OriginalContent"] == raw
