# SPDX-License-Identifier: GPL-3.0-or-later
"""The MongoDB driver against a real MongoDB-wire server (SecantusDB, docs/design.md §6)."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from tests.outputs.records import META, Event, batch, events, json_record, raw_record
from tests.support.ports import free_port
from tests.support.receivers import Receiver, mongo_uri
from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import DriverContext
from wec.outputs.mongodb import DEDUP_INDEX, INDEXES, TTL_INDEX, MongoDBDriver, parse_time, to_document

JSON = DriverContext(format_name="Json", logger=logging.getLogger("tests.outputs"))


@pytest.fixture
def names() -> tuple[str, str]:
    return "wec_test", f"events_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(secantus: Receiver) -> Iterator[MongoClient[dict[str, Any]]]:
    c: MongoClient[dict[str, Any]] = MongoClient(
        mongo_uri(secantus), serverSelectionTimeoutMS=10000, tz_aware=True
    )
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def collection(
    client: MongoClient[dict[str, Any]], names: tuple[str, str]
) -> Iterator[Collection[dict[str, Any]]]:
    col = client[names[0]][names[1]]
    try:
        yield col
    finally:
        col.drop()


def driver(secantus: Receiver, names: tuple[str, str], **config: Any) -> MongoDBDriver:
    base = {"uri": mongo_uri(secantus), "database": names[0], "collection": names[1]}
    return MongoDBDriver.from_config({**base, **config}, context=JSON)


def records(evs: list[Event]) -> list[bytes]:
    return [json_record(e) for e in evs]


class TestDocuments:
    def test_documents_are_the_json_format_with_real_dates(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        d = driver(secantus, names)
        d.write(batch(records([Event(record_id=7)])))
        d.close()
        (doc,) = collection.find({}, {"_id": 0})
        assert doc["System"]["TimeCreated"] == datetime(2025, 3, 4, 10, 15, 21, 907000, tzinfo=UTC)
        assert doc["System"]["TimeCreatedText"] == "2025-03-04T10:15:21.9071234Z"
        assert doc["OpenWEC"]["TimeReceived"] == datetime(2025, 3, 4, 10, 15, 26, 482000, tzinfo=UTC)
        assert doc["System"]["EventRecordID"] == 7
        assert doc["EventData"] == {"TargetUserName": "alice", "IpAddress": "10.1.2.3"}
        assert "Raw" not in doc

    def test_documents_are_queryable_by_the_indexed_fields(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        evs = [
            Event(record_id=i, computer=f"pc{i % 2}.corp.example", channel=("Security", "System")[i % 3 == 0],
                  event_id=(4624, 4625)[i % 5 == 0], time_created=f"2025-03-04T10:{i:02d}:00.0000000Z")
            for i in range(1, 31)
        ]  # fmt: skip
        d = driver(secantus, names)
        d.write(batch(records(evs)))
        d.close()
        since = datetime(2025, 3, 4, 10, 10, tzinfo=UTC)
        by_id = collection.find({"System.EventID": 4625, "System.TimeCreated": {"$gte": since}})
        assert sorted(doc["System"]["EventRecordID"] for doc in by_id) == [10, 15, 20, 25, 30]
        assert collection.count_documents({"System.Computer": "pc1.corp.example"}) == 15
        assert (
            collection.count_documents({"System.Channel": "System", "System.TimeCreated": {"$lt": since}})
            == 3
        )
        plan = str(collection.find({"System.Computer": "pc1.corp.example"}).explain())
        assert "IXSCAN" in plan, plan

    def test_the_indexes_exist(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        d = driver(secantus, names)
        d.write(batch(records(events(1))))
        d.close()
        info = collection.index_information()
        assert set(INDEXES) | {DEDUP_INDEX} <= set(info)
        assert info[DEDUP_INDEX]["unique"] is True
        assert TTL_INDEX not in info

    def test_keep_raw_stores_the_event_xml(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        evs = events(2)
        raw = tuple(raw_record(e).decode() for e in evs)
        d = driver(secantus, names, keep_raw=True)
        d.write(OutputBatch(records=tuple(records(evs)), meta=META, raw=raw))
        with pytest.raises(OutputError, match="keep_raw"):
            d.write(batch(records(events(1, start=50))))  # a pipeline that does not pass the XML
        d.close()
        assert sorted(doc["Raw"] for doc in collection.find()) == sorted(raw)


class TestDeduplication:
    def test_a_resent_batch_leaves_no_duplicate(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        d = driver(secantus, names)
        first = records(events(10))
        d.write(batch(first))
        d.write(batch(first))  # the source's resend after a 503 elsewhere
        d.write(batch(first[5:] + records(events(3, start=11))))  # half old, half new
        d.close()
        assert collection.count_documents({}) == 13

    def test_a_reinstalled_machine_reusing_record_ids_is_not_a_duplicate(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        before = Event(record_id=100, time_created="2024-01-10T08:00:00.0000000Z")
        after = Event(record_id=100, time_created="2025-03-04T10:15:21.9071234Z")
        d = driver(secantus, names)
        d.write(batch(records([before])))
        d.write(batch(records([after])))
        d.close()
        assert collection.count_documents({"System.EventRecordID": 100}) == 2

    def test_another_client_cannot_suppress_a_machines_events(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        genuine = Event(record_id=5)
        forged = dataclasses.replace(genuine, client="EVIL$@CORP.EXAMPLE")  # same Computer, ids, time
        d = driver(secantus, names)
        d.write(batch(records([forged])))
        d.write(batch(records([genuine])))
        d.close()
        assert collection.count_documents({"OpenWEC.Client": "WS042$@CORP.EXAMPLE"}) == 1

    def test_events_without_a_record_id_are_never_merged(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        doc = {"System": {"EventID": 1, "Computer": "pc", "TimeCreated": "2025-03-04T10:15:21.9071234Z"}}
        import orjson

        d = driver(secantus, names)
        d.write(batch([orjson.dumps(doc), orjson.dumps(doc)]))
        d.close()
        assert collection.count_documents({}) == 2


class TestTtl:
    def test_ttl_days_creates_updates_and_removes_the_ttl_index(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        for ttl, expected in ((30, 30 * 86400), (7, 7 * 86400), (None, None)):
            d = driver(secantus, names, **({"ttl_days": ttl} if ttl else {}))
            d.write(batch(records(events(1))))
            d.close()
            info = collection.index_information()
            assert (info[TTL_INDEX]["expireAfterSeconds"] if TTL_INDEX in info else None) == expected
            assert info.get(TTL_INDEX, {"key": [("OpenWEC.TimeReceived", 1)]})["key"] == [
                ("OpenWEC.TimeReceived", 1)
            ]


class TestFaults:
    def test_server_stopped_mid_stream_then_back_loses_nothing(
        self, secantus: Receiver, names: tuple[str, str], client: MongoClient[dict[str, Any]]
    ) -> None:
        d = driver(secantus, names, timeout=2)
        first, second = records(events(5, start=1)), records(events(5, start=6))
        d.write(batch(first))
        secantus.stop()
        try:
            with pytest.raises(OutputError, match="cannot write 5 event"):
                d.write(batch(second))
        finally:
            secantus.start()  # same port, same storage directory
        d.write(batch(first + second))  # a resend overlapping what was already stored
        d.close()
        col = client[names[0]][names[1]]
        assert sorted(doc["System"]["EventRecordID"] for doc in col.find()) == list(range(1, 11))
        col.drop()

    def test_nothing_listening(self, names: tuple[str, str]) -> None:
        uri = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
        d = MongoDBDriver.from_config({"uri": uri, "timeout": 1}, context=JSON)
        with pytest.raises(OutputError):
            d.write(batch(records(events(1))))
        d.close()

    def test_an_out_of_range_time_created_is_stored_as_text(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        d = driver(secantus, names)
        odd = "9999-12-31T23:59:59.9999999-23:59"
        d.write(batch(records([Event(record_id=1, time_created=odd), Event(record_id=2)])))
        d.close()
        docs = sorted(collection.find({}, {"_id": 0}), key=lambda doc: doc["System"]["EventRecordID"])
        assert len(docs) == 2
        assert docs[0]["System"]["TimeCreated"] == odd

    def test_a_record_id_beyond_bson_int64_is_stored_as_text(
        self, secantus: Receiver, names: tuple[str, str], collection: Collection[dict[str, Any]]
    ) -> None:
        # EventRecordID is a u64 (the Json format keeps it whole); BSON integers stop at
        # 2**63 - 1 and the encoder raises OverflowError, which must not escape write().
        d = driver(secantus, names)
        d.write(batch(records([Event(record_id=2**64 - 1), Event(record_id=2**63)])))
        d.write(batch(records([Event(record_id=2**64 - 1)])))  # a resend is still a duplicate
        d.close()
        ids = sorted(doc["System"]["EventRecordID"] for doc in collection.find({}, {"_id": 0}))
        assert ids == sorted([str(2**63), str(2**64 - 1)])

    def test_a_record_that_is_not_json_fails_the_batch(
        self, secantus: Receiver, names: tuple[str, str]
    ) -> None:
        d = driver(secantus, names)
        with pytest.raises(OutputError, match="event 2 of 2 is not a Json record"):
            d.write(batch([json_record(Event()), raw_record(Event())]))
        d.close()


class TestConfig:
    def test_the_format_must_be_json(self) -> None:
        for fmt in ("Raw", "RawJson", "Nxlog", None):
            with pytest.raises(ValueError, match='format must be "Json"'):
                MongoDBDriver.from_config({"uri": "mongodb://h"}, context=DriverContext(format_name=fmt))

    @pytest.mark.parametrize(("value", "w"), [("majority", "majority"), (1, 1), ("0", 0)])
    def test_write_concern(
        self, secantus: Receiver, names: tuple[str, str], value: object, w: object
    ) -> None:
        # w=0 needs the explicit acknowledgement of its risk (tests/outputs/test_unacknowledged.py)
        allow = {"allow_unacknowledged": True} if w == 0 else {}
        d = driver(secantus, names, write_concern=value, **allow)
        try:
            assert d.collection.write_concern.document == {"w": w}
        finally:
            d.close()

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ({}, "'uri' is required"),
            ({"uri": "mongodb://h", "ttl": 3}, "unknown config key 'ttl'"),
            ({"uri": "mongodb://h", "ttl_days": 0}, "ttl_days"),
            ({"uri": "mongodb://h", "write_concern": True}, "write_concern"),
            ({"uri": "mongodb://h", "write_concern": -1}, "write_concern"),
            ({"uri": "mongodb://h", "keep_raw": "yes"}, "keep_raw"),
            ({"uri": "http://h"}, "invalid configuration"),
        ],
    )
    def test_invalid_configurations(self, config: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            MongoDBDriver.from_config(config, context=JSON)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-04T10:15:21.9071234Z", datetime(2025, 3, 4, 10, 15, 21, 907123, tzinfo=UTC)),
        ("2025-03-04T10:15:26.482913705+00:00", datetime(2025, 3, 4, 10, 15, 26, 482913, tzinfo=UTC)),
        ("2025-03-04T12:00:00+02:00", datetime(2025, 3, 4, 10, 0, 0, tzinfo=UTC)),
        ("2025-02-30T10:00:00Z", None),
        ("soon", None),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_unparsable_times_are_kept_as_text() -> None:
    import orjson

    doc = to_document(orjson.dumps({"System": {"TimeCreated": "bogus"}, "OpenWEC": {"TimeReceived": 5}}))
    assert doc == {"System": {"TimeCreated": "bogus"}, "OpenWEC": {"TimeReceived": 5}}


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59.9999999-23:59",  # past year 9999 once in UTC
        "0001-01-01T00:00:00+23:59",  # before year 1 once in UTC
    ],
)
def test_times_out_of_the_datetime_range_are_kept_as_text(text: str) -> None:
    # TimeCreated is written by the source: an odd value must not raise OverflowError out
    # of write() (a batch that fails forever); it stays a string like any unparsable time.
    import orjson

    assert parse_time(text) is None
    assert to_document(orjson.dumps({"System": {"TimeCreated": text}})) == {"System": {"TimeCreated": text}}
