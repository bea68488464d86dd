# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw and RawJson (docs/protocol.md §10.2): no parsing, the event text as received."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.formats.factory import META, event_xml
from wec.formats import RawFormat, RawJsonFormat

RAW = RawFormat()
RAW_JSON = RawJsonFormat()


def test_raw_is_the_received_text_in_utf8() -> None:
    raw = event_xml(body="<EventData><Data>é\n日本</Data></EventData>")
    assert RAW.format(raw, None, META) == raw.encode("utf-8")


def test_raw_keeps_malformed_text_untouched() -> None:
    raw = "<Event><System>\r\n oops"
    assert RAW.format(raw, None, META) == raw.encode("utf-8")


def test_raw_and_raw_json_do_not_need_parsing() -> None:
    assert RAW.needs_parse is False
    assert RAW_JSON.needs_parse is False


def test_raw_repairs_lone_surrogates_instead_of_dropping() -> None:
    assert RAW.format("a\ud800b", None, META) == "a\ufffdb".encode()


def test_raw_json_is_meta_then_data() -> None:
    raw = event_xml()
    out = RAW_JSON.format(raw, None, META)
    assert out is not None and not out.endswith(b"\n")
    doc = json.loads(out)
    assert list(doc) == ["meta", "data"]
    assert doc["data"] == raw
    assert doc["meta"] == {
        "IpAddress": "10.20.30.40",
        "TimeReceived": "2025-03-04T10:15:26.482913+00:00",
        "Principal": "WS042$@CORP.EXAMPLE",
        "Client": "WS042$@CORP.EXAMPLE",
        "Subscription": {
            "Uuid": "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
            "Version": "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
            "Name": "security-core",
        },
    }


def test_raw_json_meta_has_node_and_revisions_when_configured() -> None:
    meta = replace(META, node="n1", subscription_uri="/u", client_revision="1", server_revision="2")
    doc = json.loads(RAW_JSON.format(event_xml(), None, meta) or b"")
    assert doc["meta"]["Node"] == "n1"
    assert doc["meta"]["Subscription"]["Uri"] == "/u"
    assert (doc["meta"]["Subscription"]["ClientRevision"], doc["meta"]["Subscription"]["ServerRevision"]) == (
        "1",
        "2",
    )


def test_raw_json_of_a_malformed_event_has_no_error() -> None:
    raw = "<Event xmlns='http://"
    doc = json.loads(RAW_JSON.format(raw, None, META) or b"")
    assert doc["data"] == raw
    assert "Error" not in doc["meta"]


def test_raw_json_escapes_control_characters_and_quotes() -> None:
    raw = 'a"b\\c\n\x00\x1f'
    assert json.loads(RAW_JSON.format(raw, None, META) or b"")["data"] == raw
