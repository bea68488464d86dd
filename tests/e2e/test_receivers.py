# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end against real receivers: each network output's receiver stops mid-stream, the
collector answers 503, the receiver comes back, and the simulated machines' resends deliver
every acknowledged event (docs/design.md §5.1).

The pattern of every test: simulated machines send in a thread; once events arrived at the
receiver it is stopped; wecd must refuse batches (503, a log line naming the output); the
receiver is started again on the same port; the machines finish with every event
acknowledged, and every acknowledged event is at the receiver (counted by event key, over
every lifetime of the receiver). Duplicates are allowed (at-least-once, docs/outputs.md),
except in MongoDB, whose unique index keeps exactly one document per event.

What "received" means, per receiver:

- rsyslog writes to a file, Secantus stores on disk, redis-server runs here with
  ``appendonly yes``/``appendfsync always``: their contents survive the restart and are read
  once at the end.
- Tansu (Kafka) keeps its log in memory only (its binary has no on-disk engine): the topic is
  read back just before the broker is stopped, and again at the end; "received" is the union.
- The Unix datagram socket is the test's own; stopping it first shuts its reading side
  (senders get EPIPE from then on), then drains what was queued, then closes and unlinks it.

Why wecd is paused (SIGSTOP, with its workers) around the stop of rsyslog and Tansu, and only
those: both are stopped while wecd cannot write, so that what they received is all read back.
Plain TCP has no acknowledgement (docs/outputs.md, Tcp): bytes the kernel accepted but rsyslog
had not read when it exits are lost, a limit of the protocol that no collector can close
(without the pause, about one run in five lost the batch wecd wrote while rsyslog was shutting
down); and an in-memory broker's contents can only be read while nothing more is produced.
wecd keeps its connections and in-flight batches through the pause and meets the dead receiver
when it resumes: the faults wec must handle (a connection closed under it, a broker gone,
refused connections, a receiver back empty) are all still there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import output_keys, patient_sim
from tests.e2e.harness import Collector, subscription_toml
from tests.support.ports import free_port
from tests.support.receivers import (
    Receiver,
    mongo_uri,
    start_rsyslog,
    start_secantus,
    start_tansu,
)
from wec.sim.events import EventKey, key_from_json, key_from_line
from wec.sim.runner import Summary

pytestmark = pytest.mark.e2e

MACHINES = 2
EVENTS = 150  # per machine
ARRIVED_BEFORE_STOP = 40  # events at the receiver before it is stopped: mid-stream
OUTAGE_503S = 4  # refused requests before the receiver is started again


# --- the common scenario ---------------------------------------------------------------------------


def access_log(collector: Collector) -> str:
    path = collector.directory / "access.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wecd_pids(collector: Collector) -> list[int]:
    """wecd's PID and its worker processes' (``server.worker_processes``)."""
    assert collector.proc is not None
    pid = collector.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]


@contextlib.contextmanager
def paused(collector: Collector) -> Iterator[None]:
    """wecd stopped (SIGSTOP) for the duration of the block, then resumed."""
    pids = wecd_pids(collector)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def run_with_outage(
    collector: Collector,
    keytab_dir: Path,
    *,
    arrived: Callable[[], int],
    stop: Callable[[], None],
    start: Callable[[], None],
    output_label: str,
) -> Summary:
    """Start wecd, run the machines in a thread, stop the receiver once ``arrived()`` reaches
    :data:`ARRIVED_BEFORE_STOP`, wait for a 503, start it again, and return the machines'
    summary once they finished (having checked it is complete)."""
    collector.start()
    sim = patient_sim(
        collector,
        keytab_dir,
        machines=MACHINES,
        events=EVENTS,
        batch=10,
        batch_interval_s=0.05,
        max_retries=80,  # about 40 s of resends: outlasts every outage here
        duration_s=50.0,
    )
    try:
        assert wait_until(lambda: arrived() >= ARRIVED_BEFORE_STOP, 30), "no events reached the receiver"
        stop()
        # Several 503s: resends during the outage are refused too, not only the batches that
        # were in flight when the receiver went.
        assert collector.wait_for(lambda: access_log(collector).count('" 503 ') >= OUTAGE_503S, 30), (
            "the collector did not answer 503 while the receiver was down"
        )
        # The log line of the refused batch names the output that failed.
        refused = [line for line in collector.logs().splitlines() if " refused: " in line]
        assert refused and all(output_label in line for line in refused), refused[:3]
        start()
    finally:
        summary = sim.result(timeout=90)
    assert summary.ok, summary.to_dict()
    assert summary.errors.get("503", 0) > 0, summary.to_dict()
    assert summary.resent > 0
    assert len(set(summary.acked_keys())) == MACHINES * EVENTS
    return summary


def keys_of(records: list[bytes] | list[str]) -> Counter[EventKey]:
    """Event keys of output records (Json format), with multiplicity; unparsable ones (a
    record cut by the outage) are left out, they are not events."""
    keys: Counter[EventKey] = Counter()
    for record in records:
        key = key_from_line(record)
        if key is not None:
            keys[key] += 1
    return keys


def assert_everything_received(summary: Summary, received: Counter[EventKey]) -> None:
    acked = set(summary.acked_keys())
    missing = acked - set(received)
    assert not missing, (
        f"{len(missing)} acknowledged events never reached the receiver: {sorted(missing)[:5]}"
    )
    assert set(received) == acked, "the receiver holds events nobody sent"


def json_output(driver: str, config: str) -> str:
    return f'[[outputs]]\ndriver = "{driver}"\nformat = "Json"\nconfig = {{ {config} }}\n'


# --- Tcp: RFC 5424 with octet counting into rsyslog -------------------------------------------------


def test_rsyslog_stopped_mid_stream_then_resends_deliver_everything(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    rsyslog = start_rsyslog(tmp_path / "rsyslog")
    try:
        collector.add_subscription(
            subscription_toml(
                outputs=json_output(
                    "Tcp",
                    f'host = "127.0.0.1", port = {rsyslog.port}, timeout = 3, '
                    'framing = "octet-counting", syslog = { rfc = "5424", facility = "local4" }',
                )
            )
        )

        def stop() -> None:
            with paused(collector):
                time.sleep(1.0)  # rsyslog reads what the kernel already accepted from wecd
                rsyslog.stop()

        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=lambda: len(rsyslog.messages()),
            stop=stop,
            start=rsyslog.start,
            output_label="#0 Tcp/Json 127.0.0.1",
        )
        # rsyslog writes asynchronously: wait until it wrote at least every acknowledged event.
        messages = rsyslog.wait_for(MACHINES * EVENTS, timeout=15)
    finally:
        rsyslog.stop()
    received = keys_of([m["msg"] for m in messages])
    assert_everything_received(summary, received)
    # rsyslog parsed each RFC 5424 header: HOSTNAME is the event's Computer, MSGID its EventID.
    for m in messages[:50]:
        key = key_from_line(m["msg"])
        assert key is not None and m["host"] == key.computer
        assert m["msgid"].isdigit()
        assert int(m["pri"]) // 8 == 20  # local4


# --- Redis ------------------------------------------------------------------------------------------


def start_persistent_redis(directory: Path) -> Receiver:
    """A private redis-server whose list survives a restart: every write is in the
    append-only file (fsync before the reply) and reloaded at start."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", str(directory)]  # fmt: skip
    r = Receiver("redis", argv, port, directory)
    r.start()
    return r


def redis_records(server: Receiver, key: str) -> list[bytes]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5)
    try:
        return [v if isinstance(v, bytes) else v.encode() for v in client.lrange(key, 0, -1)]
    except redis.ConnectionError:
        return []
    finally:
        client.close()


def test_redis_stopped_mid_stream_then_resends_deliver_everything(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    server = start_persistent_redis(tmp_path / "redis")
    try:
        collector.add_subscription(
            subscription_toml(
                outputs=json_output("Redis", f'addr = "127.0.0.1:{server.port}", list = "wec", timeout = 3')
            )
        )
        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=lambda: len(redis_records(server, "wec")),
            stop=server.stop,
            start=server.start,
            output_label=f"Redis/Json 127.0.0.1:{server.port}",
        )
        received = keys_of(redis_records(server, "wec"))
    finally:
        server.stop()
    assert_everything_received(summary, received)


# --- MongoDB (SecantusDB) ------------------------------------------------------------------------------


class Mongo:
    """A SecantusDB server (on disk: its documents survive a restart) and the collection the
    MongoDB output writes to."""

    DATABASE, COLLECTION = "wec_e2e", "events"

    def __init__(self, directory: Path) -> None:
        from pymongo import MongoClient

        directory.mkdir(parents=True, exist_ok=True)
        self.server = start_secantus(directory)
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            mongo_uri(self.server), serverSelectionTimeoutMS=5000, tz_aware=True
        )

    def output(self) -> str:
        return json_output(
            "MongoDB",
            f'uri = "{mongo_uri(self.server)}", database = "{self.DATABASE}", '
            f'collection = "{self.COLLECTION}", timeout = 3',
        )

    def count(self) -> int:
        from pymongo.errors import PyMongoError

        try:
            return self.client[self.DATABASE][self.COLLECTION].count_documents({})
        except PyMongoError:  # stopped
            return 0

    def keys(self) -> Counter[EventKey]:
        received: Counter[EventKey] = Counter()
        projection = {"System.Computer": 1, "System.Channel": 1, "System.EventRecordID": 1}
        for doc in self.client[self.DATABASE][self.COLLECTION].find({}, projection):
            key = key_from_json(doc)
            assert key is not None, doc
            received[key] += 1
        return received

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def assert_one_document_per_event(received: Counter[EventKey]) -> None:
    duplicated = [k for k, n in received.items() if n > 1]
    assert not duplicated, f"the unique index let {len(duplicated)} resent events in twice"


def test_mongodb_stopped_mid_stream_then_resends_leave_exactly_one_document_per_event(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    mongo = Mongo(tmp_path / "secantus")
    try:
        collector.add_subscription(subscription_toml(outputs=mongo.output()))
        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=mongo.count,
            stop=mongo.server.stop,
            start=mongo.server.start,
            output_label="MongoDB/Json mongodb://127.0.0.1",
        )
        received = mongo.keys()
    finally:
        collector.stop()  # before its server: a MongoDB client with no server is slow to close
        mongo.close()
    assert_everything_received(summary, received)
    assert_one_document_per_event(received)


# --- Kafka (Tansu) -------------------------------------------------------------------------------------


class TopicReader:
    """Reads a topic from its beginning, keeping every message."""

    def __init__(self, broker: Receiver, topic: str) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self._consumer = Consumer(
            {
                "bootstrap.servers": f"127.0.0.1:{broker.port}",
                "group.id": f"wec-e2e-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        # Every partition: a topic the producer's metadata request created has the broker's
        # default partition count.
        partitions = self._consumer.list_topics(topic, timeout=20).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.values: list[bytes] = []

    def poll(self, seconds: float) -> int:
        """Read for up to ``seconds``; the number of messages read so far."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self._consumer.poll(0.05)
            if m is not None and m.error() is None:
                self.values.append(m.value() or b"")
        return len(self.values)

    def drain(self, quiet: float = 1.5, limit: float = 20.0) -> list[bytes]:
        """Read until nothing came for ``quiet`` seconds (at most ``limit``)."""
        deadline = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            m = self._consumer.poll(0.1)
            if m is not None and m.error() is None:
                self.values.append(m.value() or b"")
                last = time.monotonic()
        return self.values

    def close(self) -> None:
        self._consumer.close()


def create_topic(broker: Receiver, name: str) -> None:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    # log_level 0: the client may outlive this call (garbage collection) and would print its
    # reconnection attempts when the broker is stopped; errors come back through the futures.
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{broker.port}", "log_level": 0})
    for future in admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)]).values():
        try:
            future.result(timeout=20)
        except KafkaException as err:
            # wecd's producer may have had it created first (Tansu creates topics on demand).
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def test_kafka_broker_stopped_mid_stream_then_resends_deliver_everything(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("confluent_kafka")
    (tmp_path / "tansu").mkdir()
    broker = start_tansu(tmp_path / "tansu")
    topic = "wec-e2e"
    readers: list[TopicReader] = []
    try:
        create_topic(broker, topic)
        readers.append(TopicReader(broker, topic))
        # Short delivery and reconnect times so that the outage fails batches quickly and the
        # return of the broker is noticed quickly (the defaults are 30 s and 10 s).
        options = (
            f'"bootstrap.servers" = "127.0.0.1:{broker.port}", acks = "all", '
            '"delivery.timeout.ms" = 4000, "reconnect.backoff.max.ms" = 500, '
            '"topic.metadata.refresh.interval.ms" = 2000'
        )
        collector.add_subscription(
            subscription_toml(outputs=json_output("Kafka", f'topic = "{topic}", options = {{ {options} }}'))
        )

        def stop() -> None:
            with paused(collector):
                readers[0].drain()  # its memory is all the broker has: read it first
                readers[0].close()
                broker.stop()

        def start() -> None:
            broker.start()  # empty: the topic is created again, as an operator would
            create_topic(broker, topic)

        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=lambda: readers[0].poll(0.2),
            stop=stop,
            start=start,
            output_label="Kafka/Json",
        )
        readers.append(TopicReader(broker, topic))
        received = keys_of(readers[0].values + readers[1].drain())
    finally:
        for r in readers[1:]:
            r.close()
        broker.stop()
    assert_everything_received(summary, received)


# --- UnixDatagram -------------------------------------------------------------------------------------


class DatagramReceiver:
    """A ``SOCK_DGRAM`` Unix socket bound at ``path``, read by a thread; :meth:`stop` loses
    nothing that was queued: it shuts the reading side (senders get EPIPE), drains, closes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.datagrams: list[bytes] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(str(self.path))
        sock.settimeout(0.2)
        self._sock = sock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(sock, self._stopping), daemon=True)
        self._thread.start()

    def _read(self, sock: socket.socket, stopping: threading.Event) -> None:
        while True:
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                if stopping.is_set():
                    break
                continue
            with self._lock:
                self.datagrams.append(data)
        # The reading side is shut, so nothing can join the queue any more: empty it.
        sock.setblocking(False)
        while True:
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                return
            if not data:
                return
            with self._lock:
                self.datagrams.append(data)

    def count(self) -> int:
        with self._lock:
            return len(self.datagrams)

    def stop(self) -> None:
        sock, thread, self._sock, self._thread = self._sock, self._thread, None, None
        if sock is None or thread is None:
            return
        sock.shutdown(socket.SHUT_RD)  # from now on senders get EPIPE
        self._stopping.set()  # after the shutdown: the reader's final drain sees everything
        thread.join(timeout=10)
        assert not thread.is_alive()
        sock.close()
        self.path.unlink(missing_ok=True)


def test_unix_datagram_receiver_gone_mid_stream_then_resends_deliver_everything(
    collector: Collector, keytab_dir: Path
) -> None:
    # AF_UNIX paths are limited to 107 bytes: pytest's temporary paths can be longer.
    directory = Path(tempfile.mkdtemp(prefix="wec-e2e-"))
    receiver = DatagramReceiver(directory / "events.sock")
    receiver.start()
    try:
        collector.add_subscription(
            subscription_toml(outputs=json_output("UnixDatagram", f'path = "{receiver.path}", timeout = 3'))
        )
        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=receiver.count,
            stop=receiver.stop,
            start=receiver.start,
            output_label=f"UnixDatagram/Json {receiver.path}",
        )
    finally:
        receiver.stop()
        shutil.rmtree(directory, ignore_errors=True)
    assert_everything_received(summary, keys_of(receiver.datagrams))


# --- two outputs, one receiver down ------------------------------------------------------------------


def test_only_the_stopped_output_fails_files_gets_duplicates_redis_gets_everything(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    server = start_persistent_redis(tmp_path / "redis")
    try:
        collector.add_subscription(
            subscription_toml(
                outputs=json_output("Files", 'path = "out/{client}.jsonl"')
                + "\n"
                + json_output("Redis", f'addr = "127.0.0.1:{server.port}", list = "wec", timeout = 3')
            )
        )
        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=lambda: len(redis_records(server, "wec")),
            stop=server.stop,
            start=server.start,
            output_label=f"#1 Redis/Json 127.0.0.1:{server.port}",
        )
        in_redis = keys_of(redis_records(server, "wec"))
    finally:
        server.stop()
    in_files = output_keys(collector)
    assert_everything_received(summary, in_redis)
    assert_everything_received(summary, in_files)
    # The healthy Files output accepted the batches Redis refused, and got them again when
    # the machines resent them.
    assert max(in_files.values()) >= 2
    # Only the Redis output was named as failing.
    assert not re.search(r"refused: .*Files/", collector.logs())


def test_mongodb_beside_a_stopped_redis_keeps_one_document_per_resent_event(
    collector: Collector, keytab_dir: Path, tmp_path: Path
) -> None:
    # MongoDB accepts every batch that Redis refuses, and is offered it again with the resend:
    # here its unique index (not a failure of its own) is what keeps one document per event.
    mongo = Mongo(tmp_path / "secantus")
    try:
        server = start_persistent_redis(tmp_path / "redis")
        try:
            collector.add_subscription(
                subscription_toml(
                    outputs=mongo.output()
                    + "\n"
                    + json_output("Redis", f'addr = "127.0.0.1:{server.port}", list = "wec", timeout = 3')
                )
            )
            summary = run_with_outage(
                collector,
                keytab_dir,
                arrived=lambda: len(redis_records(server, "wec")),
                stop=server.stop,
                start=server.start,
                output_label=f"#1 Redis/Json 127.0.0.1:{server.port}",
            )
            in_redis = keys_of(redis_records(server, "wec"))
        finally:
            collector.stop()  # before the servers: a MongoDB client with no server is slow to close
            server.stop()
        in_mongo = mongo.keys()
    finally:
        mongo.close()
    assert_everything_received(summary, in_redis)
    assert_everything_received(summary, in_mongo)
    assert_one_document_per_event(in_mongo)
