# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's events look like forwarded Windows events and carry unique, extractable keys."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from lxml import etree

from wec.sim.events import (
    EVENT_KINDS,
    EventKey,
    EventLog,
    bookmark_event,
    key_from_json,
    key_from_line,
    key_from_xml,
    keys_in_raw_text,
    render_event,
)

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
BASE = datetime(2025, 3, 4, 10, 15, 21, 907000, tzinfo=UTC)


def _all(
    computer: str = "ws042.corp.example", count: int = 300, rendered: bool = True, seed: int = 7
) -> list[str]:
    log = EventLog(computer, count, seed=seed)
    return [render_event(e, computer, BASE, seed, rendered) for e in log.entries()]


def test_every_kind_renders_wellformed_xml_in_the_event_namespace() -> None:
    for kind, channel in EVENT_KINDS.items():
        log = EventLog("pc1.corp", 5, seed=1, mix={kind: 1})
        for entry in log.entries():
            for rendered in (False, True):
                root = etree.fromstring(render_event(entry, "pc1.corp", BASE, 1, rendered).encode())
                assert root.tag == f"{{{NS}}}Event"
                assert root.findtext(f"{{{NS}}}System/{{{NS}}}EventID") == kind
                assert root.findtext(f"{{{NS}}}System/{{{NS}}}Channel") == channel
                assert (root.find(f"{{{NS}}}RenderingInfo") is not None) == rendered


def test_forwarded_form_single_quotes_and_no_indentation() -> None:
    for xml in _all(count=50):
        assert xml.startswith(f"<Event xmlns='{NS}'><System><Provider Name='")
        tags = re.findall(r"<[^!][^>]*>", xml.split("<RenderingInfo")[0])
        assert all('="' not in t for t in tags), "attributes must be single-quoted"
        assert re.search(r">\s+<", xml) is None


def test_time_created_has_seven_fraction_digits_and_z() -> None:
    for xml in _all(count=50):
        stamp = re.search(r"<TimeCreated SystemTime='([^']+)'/>", xml)
        assert stamp is not None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", stamp.group(1))


def test_rendering_info_message_keeps_crlf_and_tabs() -> None:
    log = EventLog("pc1.corp", 3, seed=2, mix={"4624": 1})
    xml = render_event(next(log.entries()), "pc1.corp", BASE, 2, rendered=True)
    root = etree.fromstring(xml.encode())
    info = root.find(f"{{{NS}}}RenderingInfo")
    assert info is not None and info.get("Culture") == "en-US"
    # Literal CR LF in the text, as Windows sends it; a parser would fold it to LF (XML 1.0 §2.11).
    raw_message = xml.split("<Message>")[1].split("</Message>")[0]
    assert "\r\n\t" in raw_message
    assert "\n" not in raw_message.replace("\r\n", "")
    assert [c.tag.split("}")[1] for c in info] == [
        "Message",
        "Level",
        "Task",
        "Opcode",
        "Channel",
        "Provider",
        "Keywords",
    ]


def test_record_ids_increase_by_one_per_channel_and_keys_are_unique() -> None:
    log = EventLog("pc1.corp", 500, seed=3)
    last: dict[str, int] = {}
    for e in log.entries():
        if e.channel in last:
            assert e.record_id == last[e.channel] + 1
        last[e.channel] = e.record_id
    keys = [key_from_xml(x) for x in _all("pc1.corp", 500, seed=3)]
    assert None not in keys
    assert len(set(keys)) == 500
    assert {k.channel for k in keys if k} == {"Security", "System", "Application"}


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    assert _all(count=40) == _all(count=40)
    assert _all(count=40, seed=8) != _all(count=40)


def test_machines_have_distinct_keys() -> None:
    a = {key_from_xml(x) for x in _all("a.corp", 100)}
    b = {key_from_xml(x) for x in _all("b.corp", 100)}
    assert not a & b


def test_illegal_character_breaks_xml_but_not_the_key() -> None:
    entry = next(EventLog("pc1.corp", 1, seed=4).entries())
    xml = render_event(entry, "pc1.corp", BASE, 4, rendered=True, illegal_char=True)
    assert "\x05" in xml
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(xml.encode())
    assert key_from_xml(xml) == EventKey("pc1.corp", entry.channel, entry.record_id)


def test_bookmark_event_111_is_wellformed_and_keyless() -> None:
    xml = bookmark_event("pc1.corp", BASE)
    root = etree.fromstring(xml.encode())
    system = root.find(f"{{{NS}}}System")
    assert system is not None
    assert [c.tag.split("}")[1] for c in system] == ["Provider", "EventID", "TimeCreated", "Computer"]
    assert root.find(f"{{{NS}}}SubscriptionBookmarkEvent/{{{NS}}}SubscriptionId") is not None
    assert key_from_xml(xml) is None


def test_key_extraction_from_every_output_format() -> None:
    xml = _all("pc1.corp", 1)[0]
    key = key_from_xml(xml)
    assert key is not None
    as_json = {"System": {"Computer": key.computer, "Channel": key.channel, "EventRecordID": key.record_id}}
    as_rawjson = {"meta": {}, "data": xml}
    as_nxlog = {"Hostname": key.computer, "Channel": key.channel, "RecordNumber": key.record_id}
    for obj in (as_json, as_rawjson, as_nxlog):
        assert key_from_json(obj) == key
        assert key_from_line(json.dumps(obj) + "\n") == key
        assert key_from_line(json.dumps(obj).encode()) == key
    assert key_from_line(xml) == key
    assert key_from_line("not an event") is None
    assert key_from_line("{broken json") is None
    assert key_from_json({"System": {"Computer": "x"}}) is None


def test_keys_in_raw_text_survive_newlines_inside_messages() -> None:
    events = _all("pc1.corp", 20, rendered=True)
    text = "\n".join(events) + "\n" + bookmark_event("pc1.corp", BASE) + "\n"
    keys = keys_in_raw_text(text)
    assert keys[:-1] == [key_from_xml(x) for x in events]
    assert keys[-1] is None


def test_bad_mix_is_rejected() -> None:
    with pytest.raises(ValueError):
        EventLog("pc1", 1, mix={"9999": 1})
    with pytest.raises(ValueError):
        EventLog("pc1", 1, mix={"4624": 0})
    with pytest.raises(ValueError):
        EventLog("pc1", -1)
