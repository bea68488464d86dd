# SPDX-License-Identifier: GPL-3.0-or-later
"""wecd with ``server.worker_processes`` > 1: the parent process that forks the workers and
watches them.

Python runs one thread at a time per process; to use several cores, wecd forks worker
processes that each bind the same ports with SO_REUSEPORT (the kernel spreads the
connections) and each run the whole collector: their own store connection, heartbeat queue,
outputs and open output files. The database is the only state they share, as between nodes.
The parent serves no source itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from wec.config import MonitoringSettings
from wec.logsetup import reopen_logs
from wec.metrics import start_multiprocess_monitoring, worker_died

__all__ = ["Supervisor"]

log = logging.getLogger("wec.supervisor")

_MAX_BACKOFF = 30.0  # seconds between restarts of workers that keep dying


class Supervisor:
    """Forks ``workers`` processes that each run ``run_worker(index)``, and keeps them running.

    - A worker that exits is forked again under the same index, after a pause that grows by
      half a second with every restart (at most 30 s), so that workers dying at start-up do
      not spin the machine.
    - SIGHUP: the parent reopens its own log files and sends SIGHUP to every worker (each
      reloads subscriptions and reopens its outputs).
    - SIGTERM/SIGINT: SIGTERM to every worker, which finishes its in-flight batches; those
      still running ``shutdown_timeout`` + 5 s later are killed.
    - With ``monitoring`` settings, the parent serves the metrics of all workers summed.

    Whatever fails the same way in every worker (the schema, a keytab) must be checked by the
    caller before :meth:`run`: it must stop wecd, not make the workers die in a loop.
    ``run_worker`` runs in the forked child, which exits with status 0 when it returns and 1
    when it raises.
    """

    def __init__(
        self,
        workers: int,
        run_worker: Callable[[int], None],
        *,
        shutdown_timeout: float,
        monitoring: MonitoringSettings | None = None,
    ) -> None:
        self.workers = workers
        self.run_worker = run_worker
        self.shutdown_timeout = shutdown_timeout
        self.monitoring_settings = monitoring
        self.monitoring: Any = None  # the parent's metrics server, while it runs
        self.children: dict[int, int] = {}  # pid → worker index
        self._stopping = threading.Event()

    def request_stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Start the workers and supervise them until SIGTERM/SIGINT or :meth:`request_stop`."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for index in range(self.workers):
            self.children[self._spawn(index)] = index
        if self.monitoring_settings is not None:
            self.monitoring = start_multiprocess_monitoring(self.monitoring_settings)
        try:
            self._watch()
        finally:
            self._stop_children()
            if self.monitoring is not None:
                self.monitoring.shutdown()
                self.monitoring = None
        log.warning("stopped")

    # --- signals (the parent's) -----------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping %d worker(s)", signum, len(self.children))
        self._stopping.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        reopen_logs()
        for pid in list(self.children):
            # A worker reaped but not yet removed from `children`: an exception here
            # would escape into the supervision loop and orphan the other workers.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    # --- the workers ----------------------------------------------------------------------

    def _watch(self) -> None:
        restarts = 0
        while not self._stopping.is_set():
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                self._stopping.wait(0.5)
                continue
            index = self.children.pop(pid, None)
            if index is None:
                continue
            log.error("worker %d (pid %d) exited with status %d; restarting it", index, pid, status)
            worker_died(pid)
            restarts += 1
            self._stopping.wait(min(_MAX_BACKOFF, 0.5 * restarts))
            if not self._stopping.is_set():
                self.children[self._spawn(index)] = index

    def _stop_children(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + 5
        while self.children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.children.pop(pid, None)
            else:
                time.sleep(0.1)
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()

    def _spawn(self, index: int) -> int:
        """Fork worker ``index``; returns its pid (in the parent; the child never returns)."""
        pid = os.fork()
        if pid:
            log.info("worker %d started (pid %d)", index, pid)
            return pid
        code = 0
        try:
            # A worker restarted after a crash is forked while the parent serves the metrics:
            # its copy of that server has no serving thread (shutting it down would wait
            # forever) and its listening socket is the parent's. Drop both.
            inherited, self.monitoring = self.monitoring, None
            if inherited is not None:
                with contextlib.suppress(Exception):
                    inherited.socket.close()
            self.children = {}
            self.run_worker(index)
        except BaseException:
            log.exception("worker %d failed", index)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)
