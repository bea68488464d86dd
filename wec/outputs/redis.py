# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis driver: every record of a batch pushed onto one list, atomically.

OpenWEC sends one ``LPUSH`` per event; the list ends up the same when one ``LPUSH`` carries
many values (Redis pushes them left to right, so the last record is at the head either way).
All of a batch's pushes run in one ``MULTI``/``EXEC`` transaction: the batch lands whole or
not at all, so a failure never leaves half a batch in the list (the source's resend would
still duplicate a batch whose ``EXEC`` reply was lost — at-least-once, docs/protocol.md §8.1).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext

__all__ = ["RedisDriver"]

_KEYS = ("addr", "list", "timeout")
# Values per LPUSH: keeps every command a bounded size on the wire for huge batches.
_CHUNK = 1000


def redis_url(addr: str) -> str:
    """OpenWEC's ``addr`` is ``[user:password@]host:port``; a full URL is accepted too."""
    return addr if "://" in addr else f"redis://{addr}/"


class RedisDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(
        self, addr: str, list_key: str, *, timeout: float = 10.0, logger: logging.Logger | None = None
    ) -> None:
        self.addr = addr
        self.list_key = list_key
        self.timeout = timeout
        self._log = logger or logging.getLogger("wec.outputs.redis")
        self._client = self._new_client()
        self._lock = threading.Lock()  # guards _client swaps only; the pool itself is thread-safe
        self._closed = False

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> RedisDriver:
        r = ConfigReader("Redis", config)
        r.check_keys(_KEYS)
        addr = r.required_string("addr")
        list_key = r.required_string("list")
        driver = cls(addr, list_key, timeout=r.number("timeout", 10.0), logger=context.logger)
        return driver

    def _new_client(self) -> redis.Redis:
        try:
            return redis.Redis.from_url(
                redis_url(self.addr),
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                health_check_interval=30,
            )
        except ValueError as err:
            raise ValueError(f"Redis: config key 'addr': {err}") from err

    def _push(self, client: redis.Redis, records: tuple[bytes, ...]) -> None:
        with client.pipeline(transaction=True) as pipe:
            for start in range(0, len(records), _CHUNK):
                pipe.lpush(self.list_key, *records[start : start + _CHUNK])
            pipe.execute()

    def _error(self, batch: OutputBatch, err: Exception) -> OutputError:
        return OutputError(f"Redis output {self.addr}: cannot push {len(batch.records)} event(s): {err}")

    def write(self, batch: OutputBatch) -> None:
        if not batch.records:
            return
        with self._lock:
            if self._closed:
                raise OutputError(f"Redis output {self.addr} is closed")
            client = self._client
        for attempt in (1, 2):
            try:
                self._push(client, batch.records)
                return
            except redis.ConnectionError as err:
                # A pooled connection the server closed fails once; the pool drops it, so a
                # single retry runs on a fresh connection (a down server fails again, fast).
                if attempt == 1:
                    self._log.info("Redis output %s: %s; retrying once", self.addr, err)
                    continue
                raise self._error(batch, err) from err
            except redis.RedisError as err:
                raise self._error(batch, err) from err

    def reopen(self) -> None:
        with self._lock:
            old, self._client = self._client, self._new_client()
        old.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._client.close()
