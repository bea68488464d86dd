# SPDX-License-Identifier: GPL-3.0-or-later
"""The UnixDatagram driver against a real AF_UNIX datagram socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.outputs.records import batch, events, raw_record
from wec.outputs.base import OutputError
from wec.outputs.context import DriverContext
from wec.outputs.unix import UnixDatagramDriver


class Receiver:
    """A datagram socket bound at a path; ``rebind`` replaces it, as a restarted daemon does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = self._bind()

    def _bind(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(self.path))
        s.settimeout(5)
        return s

    def receive(self, count: int) -> list[bytes]:
        return [self.sock.recv(1 << 20) for _ in range(count)]

    def pending(self) -> list[bytes]:
        got = []
        self.sock.setblocking(False)
        try:
            while True:
                got.append(self.sock.recv(1 << 20))
        except BlockingIOError:
            return got
        finally:
            self.sock.settimeout(5)

    def stop(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)

    def rebind(self) -> None:
        self.sock = self._bind()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path / "wec.sock")
    try:
        yield r
    finally:
        r.stop()


def unix(context: DriverContext, **config: Any) -> UnixDatagramDriver:
    return UnixDatagramDriver.from_config(config, context=context)


def test_one_datagram_per_event_multi_line_intact(receiver: Receiver, context: DriverContext) -> None:
    records = [raw_record(e) for e in events(3, message="line 1\nline 2\r\n\tline 3")]
    d = unix(context, path=str(receiver.path))
    d.write(batch(records))
    d.close()
    assert receiver.receive(3) == records
    assert receiver.pending() == []


def test_an_event_over_the_socket_limit_fails_the_batch_naming_its_size(
    receiver: Receiver, context: DriverContext
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        limit = probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    big = b"<Event>" + b"x" * (limit + 1024) + b"</Event>"
    d = unix(context, path=str(receiver.path))
    with pytest.raises(OutputError, match=rf"event 2 of 3 is {len(big)} bytes.*EMSGSIZE"):
        d.write(batch([b"small", big, b"after"]))
    d.close()
    # The batch failed: the source will resend it whole; what went before may be duplicated.
    assert receiver.pending() == [b"small"]


def test_receiver_stopped_then_back(receiver: Receiver, context: DriverContext) -> None:
    d = unix(context, path=str(receiver.path))
    d.write(batch([b"a"]))
    receiver.stop()
    with pytest.raises(OutputError, match="cannot send event 1 of 2"):
        d.write(batch([b"b", b"c"]))
    receiver.rebind()
    d.write(batch([b"b", b"c"]))  # the resend
    d.close()
    assert receiver.pending() == [b"b", b"c"]


def test_a_restarted_receiver_is_found_without_an_error(receiver: Receiver, context: DriverContext) -> None:
    d = unix(context, path=str(receiver.path))
    d.write(batch([b"a"]))
    assert receiver.receive(1) == [b"a"]
    receiver.stop()
    receiver.rebind()  # a new socket at the same path between two batches
    d.write(batch([b"b"]))
    d.close()
    assert receiver.receive(1) == [b"b"]


def test_nothing_at_the_path(tmp_path: Path, context: DriverContext) -> None:
    d = unix(context, path=str(tmp_path / "absent.sock"))
    with pytest.raises(OutputError, match="No such file"):
        d.write(batch([b"a"]))


def test_closed_driver_refuses_writes(receiver: Receiver, context: DriverContext) -> None:
    d = unix(context, path=str(receiver.path))
    d.close()
    with pytest.raises(OutputError, match="closed"):
        d.write(batch([b"a"]))


def test_a_relative_path_starts_at_the_base_dir(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path / "rel.sock")
    try:
        d = UnixDatagramDriver.from_config(
            {"path": "rel.sock"}, context=DriverContext(base_dir=str(tmp_path))
        )
        d.write(batch([b"a"]))
        d.close()
        assert receiver.receive(1) == [b"a"]
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'path' is required"),
        ({"path": "/x", "mode": 1}, "unknown config key 'mode'"),
        ({"path": 3}, "path"),
    ],
)
def test_invalid_configurations(config: dict[str, Any], message: str, context: DriverContext) -> None:
    with pytest.raises(ValueError, match=message):
        unix(context, **config)
