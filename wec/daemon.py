# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector process: settings → store → service → one HTTP server per collector.

Start-up order matters: the SLDC kernels are compiled and the database schema checked
*before* any port is opened, so a source never meets a half-ready collector.

Signals: SIGTERM/SIGINT stop accepting, let in-flight batches finish (bounded by
``server.shutdown_timeout``), flush heartbeats and exit 0. SIGHUP reopens log files, reloads
subscriptions from the database and rebuilds every output (Files reopen their files).
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
from wec.config import Settings
from wec.logsetup import reopen_logs
from wec.metrics import Metrics, start_monitoring
from wec.outputs import files as files_output
from wec.service import CollectorService
from wec.store import HeartbeatQueue, Store, open_store
from wec.transport.app import WecApp
from wec.transport.server import WecServer, make_server

__all__ = ["Daemon"]

log = logging.getLogger("wec.daemon")


@dataclass
class Daemon:
    settings: Settings
    store: Store | None = None
    service: CollectorService | None = None
    heartbeats: HeartbeatQueue | None = None
    servers: list[WecServer] = field(default_factory=list)
    metrics: Metrics | None = None
    monitoring: Any = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _hup: threading.Event = field(default_factory=threading.Event)

    def prepare(self) -> None:
        s = self.settings
        accel.configure_cache(s.server.numba_cache_dir)
        took = accel.warm_up()
        log.info("SLDC/UTF-16 kernels ready in %.2fs", took)
        self.store = open_store(s.database)
        self.store.check_schema()
        self.heartbeats = HeartbeatQueue(
            self.store, s.server.flush_heartbeats_interval, s.server.heartbeats_queue_size
        )
        files_output.configure_handles(s.outputs.files_descriptor_close_timeout)
        self.metrics = Metrics(s.monitoring)
        self.service = CollectorService(s, self.store, self.heartbeats, metrics=self.metrics)
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
                max_body=c.max_content_length + 4096,
            )
            srv.prepare()
            self.servers.append(srv)
            log.info(
                "collector listening on %s:%s (%s)", c.listen_address, srv.bind_addr[1], c.authentication.type
            )

    @property
    def ports(self) -> list[int]:
        return [int(srv.bind_addr[1]) for srv in self.servers]

    def serve_forever(self) -> None:
        if self.settings.monitoring is not None and self.metrics is not None:
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
            self.settings.monitoring.machines_refresh_interval if self.settings.monitoring else None
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
        self.install_signals()
        self.prepare()
        try:
            self.serve_forever()
        finally:
            self.shutdown()
