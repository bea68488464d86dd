# SPDX-License-Identifier: GPL-3.0-or-later
"""The worker-process supervisor of wecd (wec/supervisor.py) with a Daemon that starts no
servers: what a forked worker inherits from the parent."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from prometheus_client import start_http_server

from wec.config import load_settings
from wec.daemon import Daemon, settle_heap
from wec.supervisor import Supervisor

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
    supervisor = Supervisor(2, daemon.run_worker, shutdown_timeout=5.0)
    server: Any
    server, _thread = start_http_server(0, "127.0.0.1")
    supervisor.monitoring = server
    try:
        pid = supervisor._spawn(1)
        code = _wait_exit(pid, 10.0)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, "the worker hung in shutdown() (killed)" if code is None else f"exit status {code}"


def test_the_supervisor_restarts_a_worker_that_dies_and_stops_them_all(tmp_path: Path) -> None:
    def run_worker(index: int) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a real worker installs its own handlers
        (tmp_path / f"{index}-{os.getpid()}").touch()
        if index == 0 and not (tmp_path / "crashed").exists():
            (tmp_path / "crashed").touch()
            raise RuntimeError("worker 0 dies once")
        time.sleep(60)  # serving, until the supervisor's SIGTERM

    def started(index: int) -> list[int]:
        return [int(p.name.split("-")[1]) for p in tmp_path.glob(f"{index}-*")]

    supervisor = Supervisor(2, run_worker, shutdown_timeout=5.0)

    def stop_once_restarted() -> None:
        deadline = time.monotonic() + 30
        while len(started(0)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.request_stop()

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    stopper = threading.Thread(target=stop_once_restarted)
    stopper.start()
    try:
        supervisor.run()
    finally:
        stopper.join(35)
        for s, handler in saved.items():
            signal.signal(s, handler)

    assert len(started(0)) == 2  # died, forked again under the same index
    assert len(started(1)) == 1
    assert supervisor.children == {}
    for pid in started(0) + started(1):
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} left running or unreaped"


def test_settle_heap_freezes_what_lives_and_collects_what_a_reload_dropped() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a reference cycle: only the cyclic collector frees it

    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = Node()  # alive when the heap settles: frozen, no longer examined by collections
    dropped = weakref.ref(kept)
    try:
        settle_heap()
        assert gone() is None  # collected before the freeze, not frozen for good
        assert gc.get_freeze_count() > 0
        del kept  # what a reload replaces (old outputs) becomes cyclic garbage
        gc.collect()
        assert dropped() is not None  # frozen objects are out of the collector's reach...
        settle_heap()
        assert dropped() is None  # ...until the next settle, which examines them once more
    finally:
        gc.unfreeze()
