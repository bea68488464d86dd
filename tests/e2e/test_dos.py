# SPDX-License-Identifier: GPL-3.0-or-later
"""Unauthenticated denial of service against the real wecd (docs/security.md).

Slow clients must not hold worker threads, descriptors are capped with a fast refusal, and
a real machine keeps being served meanwhile. Every loop here is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import run_sim
from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc

pytestmark = pytest.mark.e2e

ATTACKER = "127.0.0.2"  # the whole of 127/8 is loopback: the attacker's address is not the machine's


def _connect(port: int, source: str = ATTACKER) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _answer(s: socket.socket, timeout: float = 5.0) -> bytes:
    """What the server sent before closing or going quiet (b"" when it closed silently)."""
    s.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


@pytest.fixture
def guarded(tmp_path: Path, kdc: Kdc) -> Iterator[Collector]:
    c = Collector(
        tmp_path / "collector",
        kdc,
        extra_settings="thread_pool_size = 8\nheader_timeout = 2\nmax_connections_per_address = 64",
    )
    c.add_subscription(subscription_toml())
    try:
        yield c
    finally:
        c.stop()


def test_trickling_connections_hold_no_thread_and_a_real_machine_is_served(
    guarded: Collector, keytab_dir: Path
) -> None:
    guarded.start()
    tricklers: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(100):  # 12× the thread pool
            s = _connect(guarded.port)
            s.sendall(b"P")
            tricklers.append(s)
        # A byte each, a few times: every one of them wakes a worker, none may keep it.
        for step in b"OST /wsman":
            for s in tricklers:
                with contextlib.suppress(OSError):
                    s.sendall(bytes([step]))
            time.sleep(0.05)
        # Beyond 64 unauthenticated connections from one address: refused fast, with a 503.
        for s in tricklers[64:]:
            if _answer(s, 2).startswith(b"HTTP/1.1 503"):
                refused += 1
        assert refused >= 30, refused
        # A real machine (another address) gets its batches acked while 64 sockets trickle.
        summary = run_sim(guarded, keytab_dir, machines=1, events=20, batch=10, max_retries=0, timeout_s=10.0)
        assert summary.ok, summary
    finally:
        for s in tricklers:
            s.close()
    logs = guarded.logs()
    assert "unauthenticated connections from this address" in logs


def test_incomplete_headers_are_cut_off_after_header_timeout(guarded: Collector) -> None:
    guarded.start()
    s = _connect(guarded.port)
    try:
        s.sendall(b"POST /wsman HTTP/1.1\r\nHost: x\r\n")
        time.sleep(2.5)  # past header_timeout = 2
        with contextlib.suppress(OSError):
            s.sendall(b"X")
        assert _answer(s, 5) == b""  # closed without a response
    finally:
        s.close()
    assert guarded.wait_for(lambda: "incomplete request headers" in guarded.logs(), 10)


def test_an_unauthenticated_body_is_not_waited_for(guarded: Collector) -> None:
    guarded.start()
    s = _connect(guarded.port)
    try:
        s.sendall(
            b"POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/soap+xml\r\nContent-Length: 400000\r\n\r\n<s:Env"
        )
        answer = _answer(s, 5)  # the body is never sent: the 401 must not wait for it
    finally:
        s.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:60]
    assert b"Connection: close" in answer


def test_the_connection_cap_refuses_fast_and_the_descriptor_limit_is_raised(tmp_path: Path, kdc: Kdc) -> None:
    c = Collector(tmp_path / "collector", kdc, extra_settings="max_connections = 20")
    c.add_subscription(subscription_toml())
    c.start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(20):
            sockets.append(_connect(c.port))
        time.sleep(0.3)
        extra = _connect(c.port, source="127.0.0.3")
        sockets.append(extra)
        assert _answer(extra, 5).startswith(b"HTTP/1.1 503")
        assert c.wait_for(lambda: "server.max_connections" in c.logs(), 10)
        assert c.proc is not None
        limits = Path(f"/proc/{c.proc.pid}/limits").read_text()
        line = next(ln for ln in limits.splitlines() if ln.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert int(soft) >= min(20 + 1024, int(hard) if hard.isdigit() else 1 << 30)
    finally:
        for s in sockets:
            s.close()
        c.stop()
