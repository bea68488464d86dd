# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker-process supervisor of wecd (wec/daemon.py), without servers: what a forked
worker inherits from the parent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server

from wec.config import load_settings
from wec.daemon import Daemon

DATA = Path(__file__).parent / "data"


class _NoServers(Daemon):
    """A worker that starts nothing: it goes straight from fork to shutdown()."""

    def install_signals(self) -> None:
        pass

    def prepare(self, *, reuse_port: bool = False, warm: bool = True) -> None:
        pass

    def serve_forever(self, *, monitoring: bool = True) -> None:
        pass


def _wait_exit(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_a_restarted_worker_does_not_shut_down_the_parents_metrics_server() -> None:
    # A worker restarted after a crash is forked once the parent serves the metrics of all
    # workers. Its copy of that server has no serving thread: shutting it down would wait
    # forever, so the worker hung on SIGTERM until the parent SIGKILLed it.
    daemon = _NoServers(load_settings(DATA / "openwec.conf.toml", environ={}))
    server: Any
    server, _thread = start_http_server(0, "127.0.0.1")
    daemon.monitoring = server
    try:
        pid = daemon._spawn(1)
        code = _wait_exit(pid, 10.0)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, "the worker hung in shutdown() (killed)" if code is None else f"exit status {code}"
