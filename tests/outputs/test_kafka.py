# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kafka driver against a real Kafka-wire broker (Tansu): produce, consume back, count."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.outputs.records import batch, events, json_record
from tests.support.receivers import Receiver
from wec.outputs.base import OutputError
from wec.outputs.context import DriverContext
from wec.outputs.kafka import KafkaDriver


def bootstrap(broker: Receiver) -> str:
    return f"127.0.0.1:{broker.port}"


def new_topics(broker: Receiver, count: int = 1) -> list[str]:
    return create_topics(broker, [f"wec-{uuid.uuid4().hex[:12]}" for _ in range(count)])


def create_topics(broker: Receiver, names: list[str]) -> list[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap(broker)})
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    for f in futures.values():
        f.result(timeout=20)
    return names


def consume(broker: Receiver, topic: str, expected: int, timeout: float = 20.0) -> list[bytes]:
    """Every message of the topic (Tansu's watermarks are wrong: count what comes back)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap(broker),
            "group.id": f"wec-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m.value() or b"")
                quiet_until = None
            elif len(got) >= expected:
                # Keep listening briefly so that extra (duplicate) messages would be seen.
                quiet_until = quiet_until or time.monotonic() + 1.0
                if time.monotonic() >= quiet_until:
                    break
    finally:
        c.close()
    return got


def driver(context: DriverContext, **config: Any) -> KafkaDriver:
    return KafkaDriver.from_config(config, context=context)


def test_every_event_is_one_message_delivered_before_write_returns(
    tansu: Receiver, context: DriverContext
) -> None:
    (topic,) = new_topics(tansu)
    records = [json_record(e) for e in events(50)]
    d = driver(context, topic=topic, options={"bootstrap.servers": bootstrap(tansu), "acks": "all"})
    d.write(batch(records[:20]))
    d.write(batch(records[20:]))
    d.close()
    assert consume(tansu, topic, 50) == records


def test_a_comma_list_of_topics_round_robins_event_by_event(tansu: Receiver, context: DriverContext) -> None:
    a, b = new_topics(tansu, 2)
    records = [b"e%d" % i for i in range(5)]
    d = driver(context, topic=f"{a}, {b}", options={"bootstrap.servers": bootstrap(tansu)})
    d.write(batch(records[:3]))
    d.write(batch(records[3:]))  # the turn carries over from one batch to the next
    d.close()
    assert consume(tansu, a, 3) == [b"e0", b"e2", b"e4"]
    assert consume(tansu, b, 2) == [b"e1", b"e3"]


def test_options_are_merged_over_the_settings_options(tansu: Receiver) -> None:
    (topic,) = new_topics(tansu)
    ctx = DriverContext(
        kafka_options={"bootstrap.servers": bootstrap(tansu), "acks": "1"}, format_name="Json"
    )
    d = KafkaDriver.from_config({"topic": topic, "options": {"acks": "all"}}, context=ctx)
    assert d.options["acks"] == "all"
    assert d.options["bootstrap.servers"] == bootstrap(tansu)
    assert d.options["delivery.timeout.ms"] == 30_000  # OpenWEC's default, not librdkafka's 5 min
    d.write(batch([b"x"]))
    d.close()
    assert consume(tansu, topic, 1) == [b"x"]


def test_outputs_with_the_same_options_share_one_producer(tansu: Receiver, context: DriverContext) -> None:
    (topic,) = new_topics(tansu)
    options = {"bootstrap.servers": bootstrap(tansu), "client.id": "shared-test"}
    d1 = driver(context, topic=topic, options=options)
    d2 = driver(context, topic=topic, options=options)
    assert d1._producer is d2._producer
    d1.close()
    d2.write(batch([b"still works"]))
    d2.close()
    with pytest.raises(OutputError, match="closed"):
        d2.write(batch([b"x"]))
    assert consume(tansu, topic, 1) == [b"still works"]


def test_broker_stopped_mid_stream_fails_the_batch_then_a_resend_delivers(
    tansu: Receiver, context: DriverContext
) -> None:
    (topic,) = new_topics(tansu)
    options = {"bootstrap.servers": bootstrap(tansu), "delivery.timeout.ms": 3000, "client.id": "fault-test"}
    d = driver(context, topic=topic, options=options)
    first = [json_record(e) for e in events(5, start=1)]
    second = [json_record(e) for e in events(5, start=6)]
    d.write(batch(first))
    assert sorted(consume(tansu, topic, 5)) == sorted(first)
    tansu.stop()
    with pytest.raises(OutputError, match=r"not delivered|missing"):
        d.write(batch(second))
    tansu.start()  # same port; memory storage, so the topic is new and empty
    create_topics(tansu, [topic])
    d.write(batch(second))
    d.close()
    assert sorted(consume(tansu, topic, 5)) == sorted(second)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"options": {"bootstrap.servers": "x:1"}}, "'topic' is required"),
        ({"topic": " , ", "options": {"bootstrap.servers": "x:1"}}, "no topic name"),
        ({"topic": "t"}, "bootstrap.servers"),
        ({"topic": "t", "options": {"bootstrap.servers": "x:1"}, "key": "k"}, "unknown config key 'key'"),
        ({"topic": "t", "options": {"bootstrap.servers": "x:1", "no.such.property": "1"}}, "invalid options"),
        ({"topic": "t", "options": {"bootstrap.servers": "x:1", "acks": ["all"]}}, "acks"),
        ({"topic": "t", "options": "bootstrap.servers=x"}, "options"),
    ],
)
def test_invalid_configurations(config: dict[str, Any], message: str, context: DriverContext) -> None:
    with pytest.raises(ValueError, match=message):
        driver(context, **config)
