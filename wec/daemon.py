# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector process: settings → store → service → one HTTP server per collector.

Start-up order matters: the SLDC kernels are compiled and the database schema checked
*before* any port is opened, so a source never meets a half-ready collector.

Signals: SIGTERM/SIGINT stop accepting, let in-flight batches finish (bounded by
``server.shutdown_timeout``), flush heartbeats and exit 0. SIGHUP reopens log files, reloads
subscriptions from the database and rebuilds every output (Files reopen their files).

With ``server.worker_processes`` > 1 the process becomes a :class:`~wec.supervisor.Supervisor`
whose forked workers each run one :class:`Daemon`.
"""

from __future__ import annotations

import logging
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
from wec.metrics import Metrics, start_monitoring
from wec.outputs.handles import FileHandles
from wec.service import CollectorService
from wec.store import HeartbeatQueue, Store, open_store
from wec.supervisor import Supervisor
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
    """One collector process: what it owns, in the order :meth:`prepare` builds it.

    ``store`` (schema checked), ``heartbeats`` (the flush queue), ``file_handles`` (the open
    files of every Files output, with the idle timeout of ``[outputs.files]``), ``metrics``,
    ``service`` (subscriptions and delivery) and one HTTP server per ``[[collectors]]``.
    :meth:`serve_forever` runs the servers in threads and keeps the calling thread for
    housekeeping: subscription sync every ``db_sync_interval``, machine metrics, closing idle
    output files, and the SIGHUP reload. :meth:`shutdown` undoes it all in reverse.

    :meth:`run` is wecd's whole life: with ``worker_processes`` > 1 it checks what every
    worker would need, then hands over to a :class:`~wec.supervisor.Supervisor` whose workers
    each call :meth:`run_worker` (``worker_index`` tells them apart: only worker 0 refreshes
    the per-machine metrics).
    """

    settings: Settings
    store: Store | None = None
    service: CollectorService | None = None
    heartbeats: HeartbeatQueue | None = None
    file_handles: FileHandles | None = None
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
        self.store = open_store(s.database)
        self.store.check_schema()
        self.heartbeats = HeartbeatQueue(
            self.store, s.server.flush_heartbeats_interval, s.server.heartbeats_queue_size
        )
        self.file_handles = FileHandles(s.outputs.files_descriptor_close_timeout, s.outputs.files_max_open)
        self.metrics = Metrics(s.monitoring)
        self.service = CollectorService(
            s, self.store, self.heartbeats, metrics=self.metrics, file_handles=self.file_handles
        )
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
            if (
                self.file_handles is not None
                and time.monotonic() - last_gc >= self.settings.outputs.garbage_collect_interval
            ):
                last_gc = time.monotonic()
                closed = self.file_handles.close_idle()
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
        if self.file_handles is not None:
            self.file_handles.close_all()

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
        if self.file_handles is not None:
            self.file_handles.close_all()
        if self.monitoring is not None:
            self.monitoring.shutdown()
        if self.store is not None:
            self.store.close()
        log.warning("stopped")

    def run(self) -> None:
        """wecd: serve until SIGTERM/SIGINT, in this process or in supervised workers."""
        workers = self.settings.server.worker_processes
        if workers > 1:
            self.check_before_fork()
            supervisor = Supervisor(
                workers,
                self.run_worker,
                shutdown_timeout=self.settings.server.shutdown_timeout,
                monitoring=self.settings.monitoring,
            )
            supervisor.run()
            return
        self.install_signals()
        self.prepare()
        try:
            self.serve_forever()
        finally:
            self.shutdown()

    def check_before_fork(self) -> None:
        """In the supervisor, before any worker exists: compile the kernels once (the workers
        inherit them) and check what would make every worker fail (schema, keytab), so that
        it stops wecd instead of making the workers die in a loop."""
        configure_kernels(self.settings)
        log.info("SLDC/UTF-16 kernels ready in %.2fs", accel.warm_up())
        check(self.settings)

    def run_worker(self, index: int) -> None:
        """One worker process of a supervised wecd (called in the forked child): the same
        collector, binding its ports with SO_REUSEPORT, without its own metrics endpoint (the
        supervisor serves the workers' summed metrics)."""
        self.worker_index = index
        self.install_signals()
        self.prepare(reuse_port=True, warm=False)
        try:
            self.serve_forever(monitoring=False)
        finally:
            self.shutdown()
