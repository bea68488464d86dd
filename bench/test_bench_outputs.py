# SPDX-License-Identifier: GPL-3.0-or-later
"""Output drivers: the cost of one batch, each beside a baseline that moves the same bytes
with the bare client (socket ``sendall``, redis-py, librdkafka, pymongo) and no driver logic.

Run: ``.venv/bin/pytest bench/test_bench_outputs.py --benchmark-only -p no:cacheprovider``.
Each result carries ``events_per_s`` in its extra info (``--benchmark-columns`` or
``--benchmark-json``). Receivers are real (docs/design.md §6); a missing one skips its benchmarks.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.outputs.records import Event, batch, events, json_record, raw_record
from tests.support.receivers import Receiver, mongo_uri, start_secantus, start_tansu
from wec.outputs.base import OutputBatch
from wec.outputs.context import DriverContext
from wec.outputs.syslog import SyslogConfig, extract_fields
from wec.outputs.tcp import TcpDriver

BATCH = 100  # events per batch, a typical WEF Events message
CTX = DriverContext(format_name="Json", logger=logging.getLogger("bench"))
MESSAGE = "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18\r\n" * 8


def _records(kind: str, start: int = 1) -> list[bytes]:
    evs = events(BATCH, start=start, message=MESSAGE)
    return [json_record(e) if kind == "json" else raw_record(e) for e in evs]


def _rate(benchmark: Any, count: int = BATCH) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["events_per_s"] = round(count / mean) if mean else None
    benchmark.extra_info["batch_events"] = count


class DrainSink:
    """A TCP server that reads and discards everything, as fast as it can."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._drain, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with conn:
            while conn.recv(1 << 20):
                pass

    def close(self) -> None:
        self._listener.close()
        for t in self._threads:
            t.join(timeout=5)


@pytest.fixture(scope="module")
def sink() -> Iterator[DrainSink]:
    s = DrainSink()
    yield s
    s.close()


# --- CPU: header building ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "raw"])
def test_syslog_field_extraction(benchmark: Any, kind: str) -> None:
    records = _records(kind)
    benchmark(lambda: [extract_fields(r) for r in records])
    _rate(benchmark)


@pytest.mark.parametrize("kind", ["json", "raw"])
def test_syslog_encode_batch(benchmark: Any, kind: str) -> None:
    d = TcpDriver("127.0.0.1", 1, syslog=SyslogConfig(), framing="octet-counting")
    b = batch(_records(kind))
    benchmark(d.encode, b)
    _rate(benchmark)


def test_baseline_join_lines(benchmark: Any) -> None:
    records = _records("json")
    benchmark(lambda: b"\n".join(records) + b"\n")
    _rate(benchmark)


# --- TCP --------------------------------------------------------------------------------------


def test_baseline_tcp_sendall(benchmark: Any, sink: DrainSink) -> None:
    records = _records("json")
    with socket.create_connection(("127.0.0.1", sink.port)) as s:
        benchmark(lambda: s.sendall(b"\n".join(records) + b"\n"))
    _rate(benchmark)


@pytest.mark.parametrize("syslog", [False, True], ids=["lf", "syslog-octet"])
def test_tcp_driver(benchmark: Any, sink: DrainSink, syslog: bool) -> None:
    config: dict[str, Any] = {"host": "127.0.0.1", "port": sink.port}
    if syslog:
        config["syslog"] = {"rfc": "5424"}
    d = TcpDriver.from_config(config, context=CTX)
    b = batch(_records("json"))
    benchmark(d.write, b)
    d.close()
    _rate(benchmark)


# --- Unix datagram ------------------------------------------------------------------------------


@pytest.fixture
def dgram_receiver(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "bench.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.2)
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                server.recv(1 << 20)
            except TimeoutError:
                continue

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    yield path
    stop.set()
    t.join(timeout=5)
    server.close()


def test_baseline_unix_send(benchmark: Any, dgram_receiver: str) -> None:
    records = _records("json")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(dgram_receiver)
        benchmark(lambda: [s.send(r) for r in records])
    _rate(benchmark)


def test_unix_driver(benchmark: Any, dgram_receiver: str) -> None:
    from wec.outputs.unix import UnixDatagramDriver

    d = UnixDatagramDriver.from_config({"path": dgram_receiver}, context=CTX)
    benchmark(d.write, batch(_records("json")))
    d.close()
    _rate(benchmark)


# --- Redis (the shared server on 6379) ------------------------------------------------------------


@pytest.fixture
def redis_key() -> Iterator[tuple[Any, str]]:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.ConnectionError:
        client.close()
        pytest.skip("no Redis on 127.0.0.1:6379")
    key = f"wec-bench:{uuid.uuid4()}"
    yield client, key
    client.delete(key)
    client.close()


def test_baseline_redis_lpush(benchmark: Any, redis_key: tuple[Any, str]) -> None:
    client, key = redis_key
    records = _records("json")

    def push() -> None:
        with client.pipeline(transaction=True) as p:
            p.lpush(key, *records)
            p.ltrim(key, 0, 10_000)
            p.execute()

    benchmark(push)
    _rate(benchmark)


def test_redis_driver(benchmark: Any, redis_key: tuple[Any, str]) -> None:
    from wec.outputs.redis import RedisDriver

    client, key = redis_key
    d = RedisDriver.from_config({"addr": "127.0.0.1:6379", "list": key}, context=CTX)
    b = batch(_records("json"))

    def setup() -> tuple[tuple[OutputBatch], dict[str, Any]]:
        client.ltrim(key, 0, 10_000)  # keep the list bounded, outside the measure
        return (b,), {}

    benchmark.pedantic(d.write, setup=setup, rounds=200)
    d.close()
    _rate(benchmark)


# --- Kafka (Tansu) --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    pytest.importorskip("confluent_kafka")
    r = start_tansu(tmp_path_factory.mktemp("tansu"))
    yield r
    r.stop()


def _topic(broker: Receiver) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    name = f"bench-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{broker.port}"})
    for f in admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)]).values():
        f.result(timeout=20)
    return name


def test_baseline_kafka_produce_flush(benchmark: Any, broker: Receiver) -> None:
    from confluent_kafka import Producer

    topic = _topic(broker)
    p = Producer({"bootstrap.servers": f"127.0.0.1:{broker.port}", "acks": "all", "linger.ms": 0})
    records = _records("json")

    def produce() -> None:
        for r in records:
            p.produce(topic, r)
        p.flush(30)

    benchmark.pedantic(produce, rounds=30)
    _rate(benchmark)


def test_kafka_driver(benchmark: Any, broker: Receiver) -> None:
    from wec.outputs.kafka import KafkaDriver

    topic = _topic(broker)
    options = {"bootstrap.servers": f"127.0.0.1:{broker.port}", "acks": "all", "linger.ms": 0}
    d = KafkaDriver.from_config({"topic": topic, "options": options}, context=CTX)
    benchmark.pedantic(d.write, args=(batch(_records("json")),), rounds=30)
    d.close()
    _rate(benchmark)


# --- MongoDB (SecantusDB: the server is the bottleneck, so the CPU part is measured apart) -------


def test_mongodb_document_conversion(benchmark: Any) -> None:
    from wec.outputs.mongodb import to_document

    records = _records("json")
    benchmark(lambda: [to_document(r) for r in records])
    _rate(benchmark)


def test_baseline_orjson_loads(benchmark: Any) -> None:
    records = _records("json")
    benchmark(lambda: [orjson.loads(r) for r in records])
    _rate(benchmark)


@pytest.fixture(scope="module")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    pytest.importorskip("pymongo")
    r = start_secantus(tmp_path_factory.mktemp("secantus"))
    yield r
    r.stop()


def _fresh_batches() -> Callable[[], tuple[tuple[OutputBatch], dict[str, Any]]]:
    counter = itertools.count(0, BATCH)

    def setup() -> tuple[tuple[OutputBatch], dict[str, Any]]:
        return (batch(_records("json", start=next(counter) + 1)),), {}

    return setup


def test_baseline_pymongo_insert_many(benchmark: Any, mongo: Receiver) -> None:
    from pymongo import MongoClient

    from wec.outputs.mongodb import MongoDBDriver

    name = f"raw_{uuid.uuid4().hex[:8]}"
    # The same indexes as the driver's, so that the difference is the driver's own work.
    indexer = MongoDBDriver(mongo_uri(mongo), "bench", name)
    indexer.ensure_indexes()
    indexer.close()
    client: Any = MongoClient(mongo_uri(mongo))
    col = client.bench[name]
    setup = _fresh_batches()

    def insert(b: OutputBatch) -> None:
        col.insert_many([orjson.loads(r) for r in b.records], ordered=False)

    benchmark.pedantic(insert, setup=setup, rounds=15)
    col.drop()
    client.close()
    _rate(benchmark)


def test_mongodb_driver(benchmark: Any, mongo: Receiver) -> None:
    from wec.outputs.mongodb import MongoDBDriver

    name = f"drv_{uuid.uuid4().hex[:8]}"
    d = MongoDBDriver.from_config(
        {"uri": mongo_uri(mongo), "database": "bench", "collection": name}, context=CTX
    )
    d.write(batch([json_record(Event(record_id=0))]))  # indexes created outside the measure
    benchmark.pedantic(d.write, setup=_fresh_batches(), rounds=15)
    d.collection.drop()
    d.close()
    _rate(benchmark)
