# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis driver against a real Redis: the shared one on 127.0.0.1:6379 (docs/design.md §6) with a
unique key per test, and a private redis-server for the fault test."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.outputs.records import batch, events, json_record
from tests.support.ports import free_port
from tests.support.receivers import Receiver
from wec.outputs.base import OutputError
from wec.outputs.context import DriverContext
from wec.outputs.redis import RedisDriver

SHARED = "127.0.0.1:6379"


@pytest.fixture
def shared_key() -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError:
        client.close()
        pytest.skip("no Redis on 127.0.0.1:6379 (the service machine runs one)")
    key = f"wec-test:{uuid.uuid4()}"
    try:
        yield client, key
    finally:
        client.delete(key)
        client.close()


def driver(context: DriverContext, **config: Any) -> RedisDriver:
    return RedisDriver.from_config(config, context=context)


def test_every_record_is_pushed_like_one_lpush_per_event(
    shared_key: tuple[redis.Redis, str], context: DriverContext
) -> None:
    client, key = shared_key
    records = [json_record(e) for e in events(5)]
    d = driver(context, addr=SHARED, list=key)
    d.write(batch(records[:2]))
    d.write(batch(records[2:]))
    d.close()
    # LPUSH puts each value at the head: the newest event is first, as OpenWEC leaves it.
    assert client.lrange(key, 0, -1) == records[::-1]


def test_a_large_batch_lands_whole(shared_key: tuple[redis.Redis, str], context: DriverContext) -> None:
    client, key = shared_key
    records = [b"%d" % i for i in range(2500)]  # more than one LPUSH chunk, one transaction
    d = driver(context, addr=f"redis://{SHARED}/0", list=key)
    d.write(batch(records))
    d.close()
    assert client.llen(key) == 2500
    assert client.lindex(key, 0) == b"2499"


def test_concurrent_writers(shared_key: tuple[redis.Redis, str], context: DriverContext) -> None:
    client, key = shared_key
    d = driver(context, addr=SHARED, list=key)

    def writer(thread: int) -> None:
        for i in range(20):
            d.write(batch([b"%d-%d" % (thread, i)] * 3))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    d.close()
    assert client.llen(key) == 4 * 20 * 3


def test_server_stopped_mid_stream_then_back(redis_server: Receiver, context: DriverContext) -> None:
    key = "wec-test:fault"
    d = driver(context, addr=f"127.0.0.1:{redis_server.port}", list=key, timeout=2)
    first = [json_record(e) for e in events(5, start=1)]
    second = [json_record(e) for e in events(5, start=6)]
    d.write(batch(first))
    # The private server keeps no data across restarts: count what it had before stopping.
    check = redis.Redis(host="127.0.0.1", port=redis_server.port)
    before = check.lrange(key, 0, -1)
    check.close()
    redis_server.stop()
    with pytest.raises(OutputError, match="cannot push 5 event"):
        d.write(batch(second))
    redis_server.start()
    d.write(batch(second))
    d.close()
    check = redis.Redis(host="127.0.0.1", port=redis_server.port)
    after = check.lrange(key, 0, -1)
    check.close()
    assert set(before) | set(after) == set(first + second)


def test_nothing_listening(context: DriverContext) -> None:
    d = driver(context, addr=f"127.0.0.1:{free_port()}", list="k", timeout=2)
    with pytest.raises(OutputError):
        d.write(batch([b"x"]))
    d.close()


def test_closed_driver_refuses_writes(context: DriverContext) -> None:
    d = driver(context, addr=SHARED, list="k")
    d.close()
    with pytest.raises(OutputError, match="closed"):
        d.write(batch([b"x"]))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"list": "k"}, "'addr' is required"),
        ({"addr": SHARED}, "'list' is required"),
        ({"addr": SHARED, "list": "k", "db": 2}, "unknown config key 'db'"),
        ({"addr": "ftp://x", "list": "k"}, "addr"),
    ],
)
def test_invalid_configurations(config: dict[str, Any], message: str, context: DriverContext) -> None:
    with pytest.raises(ValueError, match=message):
        driver(context, **config)
