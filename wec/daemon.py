# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector process: settings → store → service → one HTTP server per collector.

Start-up order matters: the SLDC kernels are compiled and the database schema checked
*before* any port is opened, so a source never meets a half-ready collector.

Signals: SIGTERM/SIGINT stop accepting, let in-flight batches finish (bounded by
``server.shutdown_timeout``), flush heartbeats and exit 0. SIGHUP reopens log files, reloads
subscriptions from the database and rebuilds every output (Files reopen their files).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import accel
from wec.auth.kerberos import KerberosAcceptor
from wec.config import ConfigError, Settings
from wec.logsetup import reopen_logs
from wec.metrics import Metrics, start_monitoring, start_multiprocess_monitoring, worker_died
from wec.outputs import files as files_output
from wec.service import CollectorService
from wec.store import HeartbeatQueue, Store, open_store
from wec.transport.app import WecApp
from wec.transport.server import WecServer, make_server

__all__ = ["Daemon", "check", "configure_kernels"]

log = logging.getLogger("wec.daemon")


def configure_kernels(settings: Settings) -> None:
    """Point numba's cache at ``server.numba_cache_dir`` (or its default)."""
    try:
        accel.configure_cache(settings.server.numba_cache_dir)
    except ValueError as err:  # not a private, writable directory: numba's index is a pickle
        raise ConfigError(f"server.numba_cache_dir: {err}") from err


def check(settings: Settings) -> None:
    """What ``wecd --check`` verifies: the kernel cache, the schema, every keytab/SPN."""
    configure_kernels(settings)
    store = open_store(settings.database)
    try:
        store.check_schema()
    finally:
        store.close()
    for c in settings.collectors:
        if c.authentication.type == "Kerberos":
            KerberosAcceptor(settings.server.keytab, c.authentication.service_principal_name)


@dataclass
class Daemon:
    settings: Settings
    store: Store | None = None
    service: CollectorService | None = None
    heartbeats: HeartbeatQueue | None = None
    servers: list[WecServer] = field(default_factory=list)
    metrics: Metrics | None = None
    monitoring: Any = None
    worker_index: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _hup: threading.Event = field(default_factory=threading.Event)

    def prepare(self, *, reuse_port: bool = False, warm: bool = True) -> None:
        s = self.settings
        if warm:
            configure_kernels(s)
            took = accel.warm_up()
            log.info("SLDC/UTF-16 kernels ready in %.2fs", took)
        # One database connection per request thread (thread_pool_size per collector), plus
        # the heartbeat flusher, the housekeeping thread (subscription sync), the metrics.
        pool_size = s.server.thread_pool_size * max(1, len(s.collectors)) + 4
        self.store = open_store(s.database, pool_size=pool_size)
        self.store.check_schema()
        self.heartbeats = HeartbeatQueue(
            self.store, s.server.flush_heartbeats_interval, s.server.heartbeats_queue_size
        )
        files_output.configure_handles(s.outputs.files_descriptor_close_timeout)
        self.metrics = Metrics(s.monitoring)
        self.service = CollectorService(s, self.store, self.heartbeats, metrics=self.metrics)
        self.service.sync_on_requests = False  # _housekeeping() syncs every db_sync_interval
        self.service.sync(force=True)
        for c in s.collectors:
            acceptor = None
            if c.authentication.type == "Kerberos":
                acceptor = KerberosAcceptor(s.server.keytab, c.authentication.service_principal_name)
            else:
                raise NotImplementedError("TLS collectors arrive in a later release")
            app = WecApp(c, self.service, acceptor, max_events=s.server.max_events_per_batch)
            srv = make_server(
                (c.listen_address, c.listen_port),
                app,
                threads=s.server.thread_pool_size,
                proxy_protocol=c.enable_proxy_protocol,
                keepalive=(
                    s.server.tcp_keepalive_time,
                    s.server.tcp_keepalive_intvl,
                    s.server.tcp_keepalive_probes,
                ),
                shutdown_timeout=s.server.shutdown_timeout,
                request_timeout=s.server.request_timeout,
                max_body=c.max_content_length + 4096,
                reuse_port=reuse_port,
            )
            srv.prepare()
            self.servers.append(srv)
            log.info(
                "collector listening on %s:%s (%s)", c.listen_address, srv.bind_addr[1], c.authentication.type
            )

    @property
    def ports(self) -> list[int]:
        return [int(srv.bind_addr[1]) for srv in self.servers]

    def serve_forever(self, *, monitoring: bool = True) -> None:
        if monitoring and self.settings.monitoring is not None and self.metrics is not None:
            self.monitoring = start_monitoring(self.settings.monitoring, self.metrics)
        for srv in self.servers:
            t = threading.Thread(target=srv.serve, name=f"wec-http-{srv.bind_addr[1]}", daemon=True)
            t.start()
            self._threads.append(t)
        self._housekeeping()

    def _housekeeping(self) -> None:
        assert self.service is not None
        s = self.settings.server
        last_gc = last_machines = time.monotonic()
        machines_every = (
            self.settings.monitoring.machines_refresh_interval
            if self.settings.monitoring and self.worker_index == 0
            else None
        )
        if machines_every:
            self.service.refresh_machine_metrics()
        while not self._stop.is_set():
            self._stop.wait(min(s.db_sync_interval, 1.0))
            if self._hup.is_set():
                self._hup.clear()
                self._reload()
            self.service.maybe_sync()
            if machines_every and time.monotonic() - last_machines >= machines_every:
                last_machines = time.monotonic()
                self.service.refresh_machine_metrics()
            if time.monotonic() - last_gc >= self.settings.outputs.garbage_collect_interval:
                last_gc = time.monotonic()
                closed = files_output.close_idle_handles()
                if closed:
                    log.info("closed %d idle output file(s)", closed)

    def _reload(self) -> None:
        assert self.service is not None
        log.warning("SIGHUP: reopening logs, reloading subscriptions and outputs")
        reopen_logs()
        try:
            self.service.sync(force=True)  # new drivers for every subscription
        except Exception:
            log.exception("reload failed")
        # Files outputs share handles across drivers: close them all so the next batch opens
        # the files anew (logrotate moved them).
        files_output.close_all_handles()

    def install_signals(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            log.warning("signal %d: stopping", signum)
            self._stop.set()

        def hup(signum: int, frame: FrameType | None) -> None:
            self._hup.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)

    def request_stop(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Stop accepting, finish in-flight requests, flush state."""
        for srv in self.servers:
            try:
                srv.stop()  # waits for worker threads (shutdown_timeout)
            except Exception:
                log.exception("error stopping a server")
        for t in self._threads:
            t.join(timeout=self.settings.server.shutdown_timeout)
        if self.service is not None:
            self.service.close()
        if self.heartbeats is not None:
            self.heartbeats.close()
        files_output.close_all_handles()
        if self.monitoring is not None:
            self.monitoring.shutdown()
        if self.store is not None:
            self.store.close()
        log.warning("stopped")

    def run(self) -> None:
        if self.settings.server.worker_processes > 1:
            self._supervise(self.settings.server.worker_processes)
            return
        self.install_signals()
        self.prepare()
        try:
            self.serve_forever()
        finally:
            self.shutdown()

    # --- several worker processes ------------------------------------------------------------
    #
    # Python runs one thread at a time per process; to use several cores, wecd forks worker
    # processes that each bind the same ports with SO_REUSEPORT (the kernel spreads the
    # connections) and each run the whole collector: their own store connection, heartbeat
    # queue, outputs. The database is the only shared state, as between nodes (DESIGN.md
    # decision 6). The parent checks everything that can fail before forking, then supervises:
    # it forwards SIGTERM/SIGHUP, restarts a worker that dies, and serves the metrics of all.

    def _supervise(self, workers: int) -> None:
        s = self.settings
        configure_kernels(s)
        log.info("SLDC/UTF-16 kernels ready in %.2fs", accel.warm_up())  # inherited by the workers
        check(s)  # a bad keytab or schema must stop the parent, not loop in the workers
        children: dict[int, int] = {}
        stopping = threading.Event()

        def on_stop(signum: int, frame: FrameType | None) -> None:
            log.warning("signal %d: stopping %d worker(s)", signum, len(children))
            stopping.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            reopen_logs()
            for pid in list(children):
                # A worker reaped but not yet removed from `children`: an exception here
                # would escape into the supervision loop and orphan the other workers.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
        for i in range(workers):
            children[self._spawn(i)] = i
        if s.monitoring is not None:
            self.monitoring = start_multiprocess_monitoring(s.monitoring)
        restarts = 0
        while not stopping.is_set():
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                stopping.wait(0.5)
                continue
            index = children.pop(pid, None)
            if index is None:
                continue
            worker_died(pid)
            log.error("worker %d (pid %d) exited with status %d; restarting it", index, pid, status)
            restarts += 1
            stopping.wait(min(30.0, 0.5 * restarts))  # back off when workers keep dying
            if not stopping.is_set():
                children[self._spawn(index)] = index
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + s.server.shutdown_timeout + 5
        while children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                children.pop(pid, None)
            else:
                time.sleep(0.1)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.monitoring is not None:
            self.monitoring.shutdown()
        log.warning("stopped")

    def _spawn(self, index: int) -> int:
        pid = os.fork()
        if pid:
            log.info("worker %d started (pid %d)", index, pid)
            return pid
        code = 0
        try:
            # A worker restarted after a crash is forked while the parent serves the metrics:
            # its copy of that server has no serving thread (shutdown() would wait forever)
            # and its listening socket is the parent's. Drop both.
            inherited, self.monitoring = self.monitoring, None
            if inherited is not None:
                with contextlib.suppress(Exception):
                    inherited.socket.close()
            self.worker_index = index
            self.install_signals()
            self.prepare(reuse_port=True, warm=False)
            try:
                self.serve_forever(monitoring=False)
            finally:
                self.shutdown()
        except BaseException:
            log.exception("worker %d failed", index)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)
