# SPDX-License-Identifier: GPL-3.0-or-later
"""The collector process: settings → store → service → one HTTP server per collector.

Start-up order matters: the SLDC kernels are compiled and the database schema checked
*before* any port is opened, so a source never meets a half-ready collector.

Signals: SIGTERM/SIGINT stop accepting, let in-flight batches finish (bounded by
``server.shutdown_timeout``), flush heartbeats and exit 0. SIGHUP reopens log files, reloads
subscriptions from the database, rebuilds every output (Files reopen their files) and
reloads the certificates, key, CAs and CRL of TLS collectors (for new connections).

With ``server.worker_processes`` > 1 the process becomes a :class:`~wec.supervisor.Supervisor`
whose forked workers each run one :class:`Daemon`.
"""

from __future__ import annotations

import gc
import logging
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

import accel
from wec.auth.kerberos import KerberosAcceptor, default_keytab_text
from wec.auth.tls import TlsConfigError, TlsCredentials, load_credentials
from wec.config import CollectorSettings, ConfigError, Settings
from wec.logsetup import reopen_logs
from wec.metrics import Metrics, start_monitoring
from wec.outputs.context import DriverContext
from wec.outputs.handles import FileHandles
from wec.outputs.registry import build_driver
from wec.permissions import unsafe_permissions
from wec.service import CollectorService
from wec.store import HeartbeatQueue, Store, open_store
from wec.supervisor import Supervisor
from wec.transport.app import WecApp
from wec.transport.server import ConnectionLimits, WecServer, make_server
from wec.transport.tls import TlsEndpoint, TlsServer, make_tls_server

if TYPE_CHECKING:
    from wec.model import Subscription

__all__ = ["Daemon", "check", "check_outputs", "configure_kernels", "keytab_notes"]

log = logging.getLogger("wec.daemon")


def configure_kernels(settings: Settings) -> None:
    """Point numba's cache at ``server.numba_cache_dir`` (or its default)."""
    try:
        accel.configure_cache(settings.server.numba_cache_dir)
    except ValueError as err:  # not a private, writable directory: numba's index is a pickle
        raise ConfigError(f"server.numba_cache_dir: {err}") from err


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's descriptor limit towards ``wanted`` (connections, files, store).

    The soft limit is often 1024 while the hard one is much higher: thousands of keep-alive
    connections would exhaust it. Returns the soft limit in force; logs when it stays short.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as err:
            log.warning("cannot raise the open-file limit to %d: %s", target, err)
    if soft < wanted:
        log.warning(
            "open-file limit %d is below what server.max_connections needs (%d): raise LimitNOFILE",
            soft,
            wanted,
        )
    return soft


def settle_heap() -> None:
    """Collect, then put every object alive now out of the cyclic collector's reach.

    What wecd holds once started (numba and llvmlite, lxml, cheroot, the subscriptions and
    their outputs: some 120,000 tracked objects) lives as long as the process, yet every full
    collection walks all of it: ~70 ms with the GIL held, several times a minute under load
    (a ``perf`` profile of wecd showed 9-12% of its CPU in ``gc_collect_main``). Frozen
    (:func:`gc.freeze`), those objects are no longer examined; the requests' own garbage is
    collected as before. Called once the process is ready and again after a reload
    (``gc.unfreeze`` first, so that the replaced outputs' reference cycles are collected
    rather than kept for good).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def keytab_notes(settings: Settings) -> list[str]:
    """What an operator should know about the keytab in use: an unset ``server.keytab`` is not
    an error, but the system keytab is rarely the one meant for wec (docs/kerberos.md)."""
    if settings.server.keytab is not None:
        return []
    if not any(c.authentication.type == "Kerberos" for c in settings.collectors):
        return []
    return [f"server.keytab is not set: using the system keytab ({default_keytab_text()})"]


def check_outputs(settings: Settings, subscriptions: list[Subscription]) -> list[str]:
    """Run each enabled output's driver check as the collector would build it, with the
    collector's settings (Kafka brokers from ``[outputs.kafka]``, TLS files on this host).
    Returns one line per output that cannot work; opens no connection."""
    problems = []
    for sub in subscriptions:
        if not sub.enabled:
            continue
        for i, out in enumerate(sub.outputs, 1):
            if not out.enabled:
                continue
            context = DriverContext(
                node_name=settings.server.node_name,
                kafka_options=settings.outputs.kafka_options,
                format_name=out.format,
                base_dir=settings.server.state_dir,
                check_only=True,
                on_collector=True,
            )
            try:
                build_driver(out.driver, dict(out.config), context).close()
            except (ValueError, ImportError) as err:
                problems.append(f"subscription {sub.name} output #{i} ({out.driver}/{out.format}): {err}")
    return problems


def kerberos_acceptor(settings: Settings, collector: CollectorSettings) -> KerberosAcceptor:
    """The acceptor of one Kerberos collector: its SPN, or else the SPNs of its hostname."""
    spn = collector.authentication.service_principal_name
    if not spn and not collector.hostname:
        log.warning(
            "collector %s:%d has neither service_principal_name nor hostname: it accepts a ticket "
            "for any principal of the keytab",
            collector.listen_address,
            collector.listen_port,
        )
    return KerberosAcceptor(
        settings.server.keytab,
        spn,
        hostnames=(collector.hostname,) if collector.hostname else (),
        machine_accounts_only=settings.server.kerberos_machine_accounts_only,
    )


def tls_endpoint(collector: CollectorSettings) -> TlsEndpoint:
    """The credentials of a ``type = "Tls"`` collector, loaded now (a ConfigError when they
    cannot be used) and again on every SIGHUP."""
    auth = collector.authentication
    where = f"collector {collector.listen_address}:{collector.listen_port}"

    def load() -> TlsCredentials:
        assert auth.ca_certificate and auth.server_certificate and auth.server_private_key
        return load_credentials(
            auth.ca_certificate, auth.server_certificate, auth.server_private_key, auth.crl_file
        )

    try:
        return TlsEndpoint(load, where)
    except TlsConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def check(settings: Settings, *, outputs: bool = True) -> list[str]:
    """What ``wecd --check`` verifies: the kernel cache, the schema, every keytab/SPN, every TLS
    certificate/key/CA file and (unless
    ``outputs`` is false) the outputs of enabled subscriptions. Returns notes for the operator
    (the keytab in use, secrets that other users can read); raises on a fault. At start-up a
    bad output does not stop the collector: only that subscription is not offered
    (docs/troubleshooting.md)."""
    configure_kernels(settings)
    store = open_store(settings.database)
    try:
        store.check_schema()
        subscriptions = store.list_subscriptions()
    finally:
        store.close()
    for c in settings.collectors:
        if c.authentication.type == "Kerberos":
            kerberos_acceptor(settings, c)
        else:
            tls_endpoint(c)
    problems = check_outputs(settings, subscriptions) if outputs else []
    if problems:
        raise ConfigError(
            "outputs that cannot work (fix them with `wec subscriptions`):\n  " + "\n  ".join(problems)
        )
    secrets = [settings.server.keytab] if settings.server.keytab else []
    if settings.database.type == "SQLite" and settings.database.path:
        secrets.append(settings.database.path)
    unsafe = [w for p in secrets if (w := unsafe_permissions(p, secret=True)) is not None]
    return keytab_notes(settings) + unsafe


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
        for note in keytab_notes(s):
            log.warning("%s", note)
        # One database connection per request thread (thread_pool_size per collector), plus
        # the heartbeat flusher, the housekeeping thread (subscription sync), the metrics.
        pool_size = s.server.thread_pool_size * max(1, len(s.collectors)) + 4
        self.store = open_store(s.database, pool_size=pool_size)
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
        # One count for all the collectors of this process: descriptors are per process.
        limits = ConnectionLimits(s.server.max_connections, max(0, s.server.max_connections_per_address))
        raise_fd_limit(s.server.max_connections + 1024)
        # Every credential is loaded before the first port opens: a collector with one
        # unusable TLS file must not half-start.
        endpoints = [tls_endpoint(c) if c.authentication.type == "Tls" else None for c in s.collectors]
        for c, endpoint in zip(s.collectors, endpoints, strict=True):
            acceptor = None
            if c.authentication.type == "Kerberos":
                acceptor = kerberos_acceptor(s, c)
            elif endpoint is not None:
                thumbprints = endpoint.credentials.thumbprints
                log.info(
                    "collector %s:%s: TLS with %d CA(s): %s",
                    c.listen_address,
                    c.listen_port,
                    len(thumbprints),
                    ", ".join(f"{cn}={tp}" for cn, tp in sorted(thumbprints.items())),
                )
            app = WecApp(c, self.service, acceptor, max_events=s.server.max_events_per_batch)
            srv = (make_server if endpoint is None else _tls_factory(endpoint))(
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
                header_timeout=s.server.header_timeout,
                min_body_rate=s.server.min_body_rate,
                limits=limits,
                max_queued_requests=s.server.max_queued_requests,
                max_body=c.max_content_length + 4096,
                reuse_port=reuse_port,
            )
            srv.prepare()
            self.servers.append(srv)
            log.info(
                "collector listening on %s:%s (%s)", c.listen_address, srv.bind_addr[1], c.authentication.type
            )
        settle_heap()

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
                settle_heap()
            if self.service.maybe_sync():
                settle_heap()  # the replaced outputs' cycles are collected, the new ones frozen
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
        # New TLS connections get the renewed certificates; established ones keep theirs.
        for srv in self.servers:
            if isinstance(srv, TlsServer):
                srv.tls.reload()

    def install_signals(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            log.warning("signal %d: stopping", signum)
            self._stop.set()

        def hup(signum: int, frame: FrameType | None) -> None:
            self._hup.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, hup)
        # A file grown past RLIMIT_FSIZE must fail its write (EFBIG: that batch gets a 503,
        # docs/operations.md "Disk errors"), not kill the collector with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

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
        check(self.settings, outputs=False)  # a bad output stops its subscription, not wecd

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


def _tls_factory(endpoint: TlsEndpoint) -> Any:
    def make(bind: tuple[str, int], app: WecApp, **kwargs: Any) -> TlsServer:
        return make_tls_server(bind, app, endpoint, **kwargs)

    return make
