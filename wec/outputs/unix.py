# SPDX-License-Identifier: GPL-3.0-or-later
"""The UnixDatagram driver: one datagram per event to a local ``AF_UNIX``/``SOCK_DGRAM`` socket.

Unix datagrams are reliable (the kernel never drops them: a full receiver queue blocks the
sender, here up to ``timeout``) and keep message boundaries, so multi-line events need no
framing. A datagram larger than the socket allows fails with ``EMSGSIZE``; the batch then
fails with an :class:`OutputError` naming the event and its size, since silently dropping
it would break at-least-once delivery. The source will resend that batch until the limit
is raised (``net.core.wmem_default``/``wmem_max`` on Linux) or the event filtered out.

A failed batch may have delivered its first datagrams already; the source resends the whole
batch, so the receiver may see duplicates (docs/protocol.md §8.1).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from typing import Any

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext

__all__ = ["UnixDatagramDriver"]

_KEYS = ("path", "timeout")
# The receiver went away or was restarted: reconnecting (once) may find its new socket.
_RECONNECT_ERRNOS = {errno.ECONNREFUSED, errno.ENOENT, errno.ENOTCONN, errno.EDESTADDRREQ}


class UnixDatagramDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(self, path: str, *, timeout: float = 10.0, logger: logging.Logger | None = None) -> None:
        self.path = path
        self.timeout = timeout
        self._log = logger or logging.getLogger("wec.outputs.unix")
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = False

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> UnixDatagramDriver:
        r = ConfigReader("UnixDatagram", config)
        r.check_keys(_KEYS)
        path = r.required_string("path")
        if context.base_dir and not os.path.isabs(path):
            path = os.path.join(context.base_dir, path)
        return cls(path, timeout=r.number("timeout", 10.0), logger=context.logger)

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        return sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _error(self, batch: OutputBatch, index: int, err: OSError) -> OutputError:
        size = len(batch.records[index])
        if err.errno == errno.EMSGSIZE:
            return OutputError(
                f"UnixDatagram output {self.path}: event {index + 1} of {len(batch.records)} is "
                f"{size} bytes, over the socket's datagram size limit (EMSGSIZE); "
                f"raise net.core.wmem_default"
            )
        return OutputError(
            f"UnixDatagram output {self.path}: cannot send event {index + 1} of "
            f"{len(batch.records)} ({size} bytes): {err}"
        )

    def write(self, batch: OutputBatch) -> None:
        with self._lock:
            if self._closed:
                raise OutputError(f"UnixDatagram output {self.path} is closed")
            index = 0
            # An error on a socket connected by an earlier write may only mean that the
            # receiver was restarted (a new socket at the same path): reconnect once and go
            # on from the failed event. On a socket connected by this write it is final.
            fresh = self._sock is None
            while index < len(batch.records):
                try:
                    if self._sock is None:
                        self._sock = self._connect()
                    self._sock.send(batch.records[index])
                    index += 1
                except OSError as err:
                    self._drop()
                    if err.errno in _RECONNECT_ERRNOS and not fresh:
                        self._log.info("UnixDatagram output %s: %s; reconnecting once", self.path, err)
                        fresh = True
                        continue
                    raise self._error(batch, index, err) from err

    def reopen(self) -> None:
        with self._lock:
            self._drop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
