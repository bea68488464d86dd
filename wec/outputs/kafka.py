# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kafka driver (confluent-kafka / librdkafka): one message per event, no key.

``topic`` may be a comma-separated list: events are spread over the topics round-robin, one
event at a time (OpenWEC's behaviour). ``options`` are librdkafka properties, merged over the
settings file's ``[outputs.kafka] options`` (the subscription's win); ``bootstrap.servers``
must be set by one of them.

Delivery. A batch counts as accepted only when librdkafka has confirmed the delivery of every
one of its messages (with the producer's ``acks``: set ``acks=all`` for durability). Any failed
delivery, or a report still missing after the delivery timeout, fails the batch with
:class:`OutputError`; messages of a failed batch that reach the broker later are duplicates of
the source's resend (at-least-once, docs/protocol.md §8.1). As in OpenWEC, ``delivery.timeout.ms``
defaults to 30 s instead of librdkafka's 5 min, so that a dead broker fails a batch well within
the source's HTTP timeout.

Producers are shared: outputs with the same effective options use one librdkafka producer
(its threads and connections), released when the last of them is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext

__all__ = ["KafkaDriver"]

_KEYS = ("topic", "options", "allow_unacknowledged")
# librdkafka's names for the producer's acknowledgement setting (``acks`` is an alias).
_ACKS_NAMES = ("acks", "request.required.acks")
_DEFAULT_DELIVERY_TIMEOUT_MS = 30_000
# Extra wait beyond the delivery timeout: librdkafka reports a timed-out message only
# after its timeout scan, which runs about once a second.
_REPORT_GRACE_S = 5.0

_OptionsKey = tuple[tuple[str, str], ...]


class _Shared:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.users = 0


_shared: dict[_OptionsKey, _Shared] = {}
_shared_lock = threading.Lock()


def _acquire(options: Mapping[str, Any], logger: logging.Logger) -> tuple[_OptionsKey, Producer]:
    key = tuple(sorted((k, str(v)) for k, v in options.items()))
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            # librdkafka's own log lines (connection failures...) go to our logging, not stderr.
            entry = _shared[key] = _Shared(Producer({**options, "logger": logger}))
        entry.users += 1
        return key, entry.producer


def _check_options(options: Mapping[str, Any]) -> None:
    # The probe's own warning ("no bootstrap.servers configured") is expected: silence it.
    quiet = logging.getLogger("wec.outputs.kafka.check")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    probe = {**{k: v for k, v in options.items() if k != "bootstrap.servers"}, "logger": quiet}
    try:
        Producer(probe)
    except (KafkaException, ValueError, TypeError) as err:
        raise ValueError(f"Kafka: invalid options: {err}") from err


def _release(key: _OptionsKey, flush_timeout: float) -> None:
    with _shared_lock:
        entry = _shared.get(key)
        if entry is None:
            return
        entry.users -= 1
        if entry.users > 0:
            return
        del _shared[key]
    entry.producer.flush(flush_timeout)


def _effective_options(defaults: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"delivery.timeout.ms": _DEFAULT_DELIVERY_TIMEOUT_MS}
    for source in (defaults, own):
        for name, value in source.items():
            if name == "message.timeout.ms":  # librdkafka's alias: keep one spelling
                name = "delivery.timeout.ms"
            options[name] = value
    return options


class _BatchReports:
    """Delivery reports of one batch; callbacks may run on any thread that polls."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.delivered = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        with self._lock:
            if err is not None:
                self.failures.append(f"{msg.topic()}: {err.str()}")
            else:
                self.delivered += 1

    @property
    def complete(self) -> bool:
        with self._lock:
            return self.delivered + len(self.failures) >= self.expected


class KafkaDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(
        self,
        topics: tuple[str, ...],
        options: Mapping[str, Any],
        *,
        logger: logging.Logger | None = None,
        check_only: bool = False,
    ) -> None:
        if not topics:
            raise ValueError("Kafka: at least one topic is required")
        if not options.get("bootstrap.servers"):
            raise ValueError(
                "Kafka: option 'bootstrap.servers' must be set, in the output's options "
                "or in the settings' [outputs.kafka] options"
            )
        self.topics = topics
        self.options = dict(options)
        self._log = logger or logging.getLogger("wec.outputs.kafka")
        timeout_ms = int(str(self.options["delivery.timeout.ms"]))
        self.report_timeout = timeout_ms / 1000 + _REPORT_GRACE_S
        self._cursor = 0
        self._lock = threading.Lock()  # guards the round-robin cursor
        self._closed = False
        if check_only:
            # Checking a subscription file: let librdkafka judge the option names and values,
            # but on a producer with no broker, which opens no connection and is dropped at once.
            _check_options(self.options)
            self._closed = True
            return
        try:
            self._key, self._producer = _acquire(self.options, self._log)
        except (KafkaException, ValueError, TypeError) as err:
            raise ValueError(f"Kafka: invalid options: {err}") from err

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> KafkaDriver:
        r = ConfigReader("Kafka", config)
        r.check_keys(_KEYS)
        topic = r.required_string("topic")
        topics = tuple(t.strip() for t in topic.split(",") if t.strip())
        if not topics:
            raise r.error("topic", f"no topic name in {topic!r}")
        own = r.table("options") or {}
        for name, value in own.items():
            if not isinstance(value, str | int | float | bool):
                raise r.error("options", f"option {name!r}: expected a string, number or boolean")
        options = _effective_options(context.kafka_options, own)
        acks = [name for name in _ACKS_NAMES if str(options.get(name, "")).strip() == "0"]
        if acks and not r.boolean("allow_unacknowledged", False):
            # acks=0: the producer never hears from the broker, so every delivery report says
            # "delivered" and a lost batch is acknowledged to the source (docs/outputs.md).
            raise ValueError(
                f"Kafka: option {acks[0]} = 0 makes failed deliveries invisible, so events could "
                'be lost while the source is told they were delivered; use "all" (or set '
                "allow_unacknowledged = true to accept that loss)"
            )
        r.boolean("allow_unacknowledged", False)
        if context.check_only and not context.on_collector and not options.get("bootstrap.servers"):
            # The brokers may come from the collector's settings, which a file check lacks.
            options = {**options, "bootstrap.servers": "(from the collector's settings)"}
        return cls(topics, options, logger=context.logger, check_only=context.check_only)

    def _topics_for(self, count: int) -> list[str]:
        n = len(self.topics)
        with self._lock:
            # Advance by the whole batch at once: concurrent batches take disjoint turns,
            # so the spread stays even across threads.
            start = self._cursor
            self._cursor = (start + count) % n
        return [self.topics[(start + i) % n] for i in range(count)]

    def write(self, batch: OutputBatch) -> None:
        if self._closed:
            raise OutputError("Kafka output is closed")
        if not batch.records:
            return
        reports = _BatchReports(len(batch.records))
        deadline = time.monotonic() + self.report_timeout
        producer = self._producer
        for topic, record in zip(self._topics_for(len(batch.records)), batch.records, strict=True):
            while True:
                try:
                    producer.produce(topic, value=record, on_delivery=reports)
                    break
                except BufferError:
                    # The local queue is full (queue.buffering.max.*): let deliveries drain.
                    if time.monotonic() >= deadline:
                        raise OutputError(
                            "Kafka output: the producer queue stayed full; batch not sent"
                        ) from None
                    producer.poll(0.1)
                except KafkaException as err:
                    raise OutputError(f"Kafka output: cannot produce to {topic!r}: {err}") from err
        producer.flush(max(0.0, deadline - time.monotonic()))
        # Another thread's poll may be running one of our callbacks right now: wait for it.
        while not reports.complete and time.monotonic() < deadline:
            producer.poll(0.05)
        if reports.failures:
            raise OutputError(
                f"Kafka output: {len(reports.failures)} of {reports.expected} event(s) "
                f"not delivered: {reports.failures[0]}"
            )
        if not reports.complete:
            raise OutputError(
                f"Kafka output: {reports.expected - reports.delivered} delivery report(s) "
                f"missing after {self.report_timeout:.0f}s"
            )

    def reopen(self) -> None:
        """Nothing to reopen: librdkafka reconnects by itself."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self._key, self.report_timeout)
