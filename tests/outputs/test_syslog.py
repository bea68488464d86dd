# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 5424 headers built from formatted records (wec/outputs/syslog.py), without a network."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.outputs.records import META, Event, json_record, raw_record
from tests.support.vectors import vector_path
from wec.outputs.syslog import (
    EventFields,
    SyslogConfig,
    extract_fields,
    frame,
    rfc5424_timestamp,
    severity,
    structured_data,
    syslog_message,
)

# RFC 5424 §6 HEADER, strictly: PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD
HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<ts>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    rb"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
    rb"(?P<sd>-|(?:\[[^\]]*(?:\\\][^\]]*)*\])+) "
)

AUDIT_FAILURE = "0x8010000000000000"


def header(message: bytes) -> dict[str, bytes]:
    m = HEADER.match(message)
    assert m is not None, message[:200]
    return {**m.groupdict(), "msg": message[m.end() :]}


class TestExtractFields:
    def test_reads_the_system_block_of_raw_xml(self) -> None:
        f = extract_fields(raw_record(Event(level=4, event_id=4688, record_id=9)))
        assert f == EventFields(
            level=4,
            keywords=0x8020000000000000,
            time_created="2025-03-04T10:15:21.9071234Z",
            computer="ws042.corp.example",
            event_id=4688,
            channel="Security",
            provider="Microsoft-Windows-Security-Auditing",
        )

    def test_reads_json_records(self) -> None:
        e = Event(level=2, event_id=7036, channel="System", provider="Service Control Manager")
        assert extract_fields(json_record(e)) == extract_fields(raw_record(e))

    def test_reads_raw_json_records_through_their_data(self) -> None:
        e = Event(level=3, event_id=1014, computer="srv01.corp.example")
        rawjson = orjson.dumps({"meta": {"IpAddress": "10.0.0.1"}, "data": raw_record(e).decode()})
        assert extract_fields(rawjson) == extract_fields(raw_record(e))

    def test_reads_nxlog_records_whose_level_is_an_event_type(self) -> None:
        nxlog = orjson.dumps(
            {
                "SourceName": "Microsoft-Windows-Security-Auditing",
                "EventID": 4625,
                "EventTime": "2025-03-04T10:15:21.9071234Z",
                "Channel": "Security",
                "Hostname": "ws042.corp.example",
                "Keywords": -9218868437227405312,  # 0x8010000000000000, signed
                "EventType": "AUDIT_FAILURE",
            }
        )
        f = extract_fields(nxlog)
        assert (f.computer, f.event_id, f.channel) == ("ws042.corp.example", 4625, "Security")
        assert f.keywords == 0x8010000000000000
        assert severity(f) == 5

    def test_ignores_look_alike_elements_outside_the_system_block(self) -> None:
        xml = raw_record(Event()).replace(
            b"<EventData>", b"<EventData><Data Name='x'>&lt;Computer&gt;evil&lt;/Computer&gt;</Data>"
        )
        spoofed = xml.replace(b"</Event>", b"<UserData><Computer>evil</Computer></UserData></Event>")
        assert extract_fields(spoofed).computer == "ws042.corp.example"

    def test_unescapes_xml_entities(self) -> None:
        f = extract_fields(raw_record(Event(provider="A&amp;B &apos;x&apos;")))
        assert f.provider == "A&B 'x'"

    @pytest.mark.parametrize(
        "record", [b"", b"   ", b"not an event", b"{", b"[1,2]", b"<<<", b'{"System":7}']
    )
    def test_unusable_records_give_empty_fields(self, record: bytes) -> None:
        f = extract_fields(record)
        assert f.computer is None and f.event_id is None

    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=400))
    def test_never_raises_and_always_gives_a_valid_header(self, record: bytes) -> None:
        message = syslog_message(record, SyslogConfig())
        assert header(message)["msg"] == record

    @settings(max_examples=100, deadline=None)
    @given(
        computer=st.text(max_size=300),
        provider=st.text(max_size=80),
        time_created=st.text(max_size=40),
        event_id=st.integers(min_value=0, max_value=2**32),
    )
    def test_any_field_values_give_a_valid_header(
        self, computer: str, provider: str, time_created: str, event_id: int
    ) -> None:
        doc = {
            "System": {
                "Provider": {"Name": provider},
                "EventID": event_id,
                "TimeCreated": time_created,
                "Computer": computer,
            }
        }
        record = orjson.dumps(doc)
        assert header(syslog_message(record, SyslogConfig()))["msg"] == record


class TestSeverity:
    @pytest.mark.parametrize(
        ("level", "expected"),
        [(1, 2), (2, 3), (3, 4), (4, 6), (5, 7), (0, 6), (None, 6), (16, 6), (255, 6)],
    )
    def test_windows_levels_map_to_syslog_severities(self, level: int | None, expected: int) -> None:
        assert severity(EventFields(level=level)) == expected

    def test_an_audit_failure_is_a_notice(self) -> None:
        assert severity(EventFields(level=0, keywords=0x8010000000000000)) == 5

    def test_an_audit_failure_keeps_a_worse_level(self) -> None:
        assert severity(EventFields(level=2, keywords=0x8010000000000000)) == 3

    def test_an_audit_success_is_informational(self) -> None:
        assert severity(EventFields(level=0, keywords=0x8020000000000000)) == 6


class TestTimestamp:
    @pytest.mark.parametrize(
        ("system_time", "expected"),
        [
            ("2025-03-04T10:15:21.9071234Z", b"2025-03-04T10:15:21.907123Z"),  # 7 digits → 6, truncated
            ("2025-03-04T10:15:21.9999999Z", b"2025-03-04T10:15:21.999999Z"),  # not rounded up
            ("2025-03-04T10:15:21.907Z", b"2025-03-04T10:15:21.907Z"),
            ("2025-03-04T10:15:21Z", b"2025-03-04T10:15:21Z"),
            ("2025-03-04T10:15:21.123456789+02:00", b"2025-03-04T10:15:21.123456+02:00"),
            ("", b"-"),
            (None, b"-"),
            ("yesterday", b"-"),
            ("2025-03-04 10:15:21Z", b"-"),
            ("2025-03-04T10:15:21.Z", b"-"),
        ],
    )
    def test_time_created_becomes_an_rfc5424_timestamp(
        self, system_time: str | None, expected: bytes
    ) -> None:
        assert rfc5424_timestamp(system_time) == expected


class TestMessage:
    def test_builds_every_header_field_from_the_event(self) -> None:
        record = json_record(Event(level=3, event_id=4625, keywords=AUDIT_FAILURE))
        h = header(syslog_message(record, SyslogConfig(facility=10)))
        assert h["pri"] == b"%d" % (10 * 8 + 4)
        assert h["ts"] == b"2025-03-04T10:15:21.907123Z"
        assert h["host"] == b"ws042.corp.example"
        assert h["app"] == b"Microsoft-Windows-Security-Auditing"
        assert (h["procid"], h["msgid"], h["sd"]) == (b"-", b"4625", b"-")
        assert h["msg"] == record

    def test_a_configured_app_name_replaces_the_provider(self) -> None:
        h = header(syslog_message(raw_record(Event()), SyslogConfig(app_name="wec-dc")))
        assert h["app"] == b"wec-dc"

    def test_header_tokens_are_printable_ascii_and_bounded(self) -> None:
        e = Event(provider="Service Control Manager" + "x" * 60, computer="pc-é\tß")
        h = header(syslog_message(raw_record(e), SyslogConfig()))
        assert h["app"] == (b"Service_Control_Manager" + b"x" * 60)[:48]
        assert h["host"] == b"pc-?_?"

    def test_missing_fields_are_nil_or_defaults(self) -> None:
        h = header(syslog_message(b"{}", SyslogConfig()))
        assert (h["ts"], h["host"], h["app"], h["msgid"]) == (b"-", b"-", b"wec", b"-")
        assert h["pri"] == b"14"  # user.info

    def test_bom_prefixes_the_message(self) -> None:
        h = header(syslog_message(b"{}", SyslogConfig(bom=True)))
        assert h["msg"] == b"\xef\xbb\xbf{}"

    def test_structured_data_describes_the_batch_with_escapes(self) -> None:
        meta = META.__class__(**{**META.__dict__, "subscription_name": 'a"b]c\\d'})
        sd = structured_data(meta)
        assert sd == (
            b'[wec@32473 subscription="a\\"b\\]c\\\\d" '
            b'subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95" '
            b'client="WS042$@CORP.EXAMPLE" ip="10.20.30.40" node="wec-a"]'
        )
        assert header(syslog_message(b"{}", SyslogConfig(), sd))["sd"] == sd


class TestFraming:
    def test_octet_counting_counts_bytes_not_characters(self) -> None:
        assert frame("é\n".encode(), "octet-counting") == b"3 \xc3\xa9\n"

    def test_lf_and_none(self) -> None:
        assert frame(b"x", "lf") == b"x\n"
        assert frame(b"x", "none") == b"x"


class TestConfig:
    def test_defaults(self) -> None:
        assert SyslogConfig.from_table({}) == SyslogConfig(facility=1)

    def test_facility_by_name_or_number(self) -> None:
        assert SyslogConfig.from_table({"facility": "local4"}).facility == 20
        assert SyslogConfig.from_table({"facility": "AUTHPRIV"}).facility == 10
        assert SyslogConfig.from_table({"facility": 23}).facility == 23

    @pytest.mark.parametrize(
        ("table", "key"),
        [
            ({"rfc": "3164"}, "rfc"),
            ({"facility": "local8"}, "facility"),
            ({"facility": 24}, "facility"),
            ({"facility": True}, "facility"),
            ({"app_name": "has space"}, "app_name"),
            ({"app_name": "x" * 49}, "app_name"),
            ({"app_name": ""}, "app_name"),
            ({"structured_data": "yes"}, "structured_data"),
            ({"sd_id": "bad id"}, "sd_id"),
            ({"bom": 1}, "bom"),
            ({"severity": 3}, "severity"),
        ],
    )
    def test_invalid_values_are_refused_naming_the_key(self, table: dict[str, object], key: str) -> None:
        with pytest.raises(ValueError, match=key):
            SyslogConfig.from_table(table)


_VECTOR_STEMS = ["1003-win10", "1100-win10", "111-win10", "4688-win10", "5719-win10", "6013-win10"]


@pytest.mark.parametrize("stem", _VECTOR_STEMS)
def test_real_json_records_give_the_same_fields_as_their_xml(stem: str) -> None:
    xml = Path(vector_path("formats", "openwec", f"{stem}.xml")).read_bytes()
    golden = Path(vector_path("formats", "openwec", f"{stem}.json")).read_bytes().strip()
    from_xml, from_json = extract_fields(xml), extract_fields(golden)
    assert from_xml.computer and from_xml.event_id is not None
    assert from_json == from_xml


@pytest.mark.parametrize("stem", ["4624-wks10001", "4625-wks10001", "1003-wks10001", "8002-wks10001"])
def test_real_nxlog_records_give_the_xml_identity_fields(stem: str) -> None:
    xml = Path(vector_path("formats", "openwec", f"{stem}.xml")).read_bytes()
    nxlog = Path(vector_path("formats", "openwec", f"{stem}.nxlog.json")).read_bytes().strip()
    a, b = extract_fields(xml), extract_fields(nxlog)
    assert (b.computer, b.event_id, b.channel, b.provider, b.time_created) == (
        a.computer,
        a.event_id,
        a.channel,
        a.provider,
        a.time_created,
    )
    assert severity(b) == severity(a)


@pytest.mark.parametrize(
    "record",
    [
        # A Raw record is whatever the source put in its CDATA, so it may look like JSON with
        # values that str.isdigit() accepts but int() does not (superscript digits).
        '{"System":{"EventID":"\u00b2","Level":"\u00b3","Computer":"h"}}'.encode(),
        '{"EventID":"\u00b2","Hostname":"h"}'.encode(),
    ],
)
def test_odd_json_values_never_make_the_header_raise(record: bytes) -> None:
    fields = extract_fields(record)
    assert fields.event_id is None and fields.level is None
    h = header(syslog_message(record, SyslogConfig()))
    assert h["msgid"] == b"-"


@pytest.mark.parametrize(
    "system_time",
    [
        "2025-13-04T10:15:21.9071234Z",  # month 13
        "2025-00-04T10:15:21Z",
        "2025-02-30T10:15:21Z",  # no such day
        "2025-03-39T10:15:21Z",
        "2025-03-04T24:15:21Z",  # hour 24
        "2025-03-04T29:15:21Z",
        "2025-03-04T10:15:60Z",  # RFC 5424 §6.2.3: leap seconds MUST NOT be used
        "2025-03-04T10:15:21+29:00",  # offset hour out of range
    ],
)
def test_an_impossible_time_created_becomes_the_nil_timestamp(system_time: str) -> None:
    # RFC 5424 §6.2.3: a TIMESTAMP must be a valid date-time; a receiver that checks it
    # would refuse or mis-date the message. NILVALUE is the documented fallback.
    assert rfc5424_timestamp(system_time) == b"-"
