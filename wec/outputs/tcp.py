# SPDX-License-Identifier: GPL-3.0-or-later
"""The Tcp driver: records over one TCP (optionally TLS) connection, LF, octet-counted or
unframed, optionally wrapped in RFC 5424 syslog headers.

Delivery. A batch is accepted once *all* its bytes were handed to the kernel with one
``sendall`` (docs/protocol.md §8.1: "accepted" means the driver returned OK). Plain TCP has no
application acknowledgement, so a receiver that dies after that point can still lose what
was in flight; what this driver does guarantee is that it never reports a batch it could
not write completely, and that it notices a connection the receiver closed *before* writing
into it: writing into a half-closed socket succeeds locally and the bytes vanish, so each
write first polls the socket (a syslog receiver never talks back, so readable means EOF).

A write that fails on a connection opened by an earlier write (the stale-connection case:
receiver restarted, idle timeout, load balancer reset) is retried once, whole, on a fresh
connection; any other failure raises :class:`OutputError` and the collector answers 503, so
the source resends the batch later (at-least-once; the receiver may see duplicates).

Threads. The server calls :meth:`TcpDriver.write` from many threads; one lock per driver
serialises them so batches never interleave on the stream. A write waits at most ``timeout``
for that lock and, with ``sendall``, at most ``timeout`` for the bytes to leave (Python's
socket timeout bounds the whole call): a receiver that accepts and stops reading costs each
batch a bounded wait and an error, never a thread for ever.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext
from wec.outputs.syslog import NIL, SyslogConfig, frame, one_line, structured_data, syslog_message

__all__ = ["FRAMINGS", "TcpDriver"]

FRAMINGS = ("none", "lf", "octet-counting")
_KEYS = (
    "host", "addr", "port", "tls_enabled", "tls_certificate_authorities", "tls_certificate",
    "tls_key", "framing", "syslog", "timeout",
)  # fmt: skip


def _tls_context(cafiles: Sequence[str], certificate: str | None, key: str | None) -> ssl.SSLContext:
    """A client context: verify the receiver (the listed CAs, else the system's) and its name."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafiles:
        # The listed authorities replace the system store, as in OpenWEC.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        for cafile in cafiles:
            context.load_verify_locations(cafile=cafile)
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context


class TcpDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        framing: str = "lf",
        syslog: SyslogConfig | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"Tcp: framing must be one of {FRAMINGS}, got {framing!r}")
        self.host = host
        self.port = port
        self.framing = framing
        self.syslog = syslog
        self.timeout = timeout
        self._tls = tls
        self._tls_files: tuple[tuple[str, ...], str | None, str | None] | None = None
        self._log = logger or logging.getLogger("wec.outputs.tcp")
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = False

    @staticmethod
    def upgrade_config(config: Mapping[str, Any]) -> dict[str, Any]:
        """OpenWEC's older spellings: ``addr`` is now ``host``, and one CA path may stand
        for a list of one."""
        if "host" in config and "addr" in config:
            raise ValueError("Tcp: config gives both 'host' and its old name 'addr'; keep 'host'")
        out = dict(config)
        if "addr" in out:
            out["host"] = out.pop("addr")
        port = out.get("port")
        # Strict in files (the running driver also reads "514", as OpenWEC's CLI writes it).
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            raise ValueError(f"Tcp: config key 'port': expected an integer, got {port!r}")
        cas = out.get("tls_certificate_authorities")
        if isinstance(cas, str):
            out["tls_certificate_authorities"] = [cas]
        return out

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> TcpDriver:
        r = ConfigReader("Tcp", config)
        r.check_keys(_KEYS)
        host, addr = r.string("host"), r.string("addr")
        if host is not None and addr is not None and host != addr:
            raise ValueError(f"Tcp: 'host' ({host!r}) and its alias 'addr' ({addr!r}) disagree")
        target = host or addr
        if target is None:
            raise ValueError("Tcp: config key 'host' (alias 'addr') is required")
        port = r.integer("port", minimum=1, maximum=65535, required=True)
        assert port is not None
        syslog_table = r.table("syslog")
        syslog = SyslogConfig.from_table(syslog_table) if syslog_table is not None else None
        # Syslog over TCP needs octet counting to keep multi-line events whole (RFC 6587 §3.4.1);
        # without syslog, OpenWEC's behaviour: one record per line.
        framing = r.choice("framing", FRAMINGS, "octet-counting" if syslog is not None else "lf")
        timeout = r.number("timeout", 10.0)
        tls_keys = ("tls_certificate_authorities", "tls_certificate", "tls_key")
        driver = cls(target, port, framing=framing, syslog=syslog, timeout=timeout, logger=context.logger)
        if r.boolean("tls_enabled", False):
            cafiles = r.string_list("tls_certificate_authorities")
            certificate, key = r.string("tls_certificate"), r.string("tls_key")
            if key is not None and certificate is None:
                raise ValueError("Tcp: 'tls_key' is set but 'tls_certificate' is not")
            driver._tls_files = (cafiles, certificate, key)
            if context.check_only and not context.on_collector:  # the files live on the collector
                return driver
            try:
                driver._tls = _tls_context(cafiles, certificate, key)
            except (OSError, ssl.SSLError) as err:
                raise ValueError(f"Tcp: cannot load the TLS files: {err}") from err
        elif any(r.has(k) for k in tls_keys):
            # OpenWEC ignores them too; say so, since it is likely a forgotten tls_enabled.
            context.logger.warning(
                "Tcp output %s:%d: tls_* keys are ignored since tls_enabled is false", target, port
            )
        return driver

    # --- encoding ------------------------------------------------------------------------------

    def encode(self, batch: OutputBatch) -> bytes:
        """The exact bytes one batch puts on the stream."""
        if self.syslog is None:
            if self.framing == "lf":
                return b"\n".join(batch.records) + b"\n"
            if self.framing == "none":
                return b"".join(batch.records)
            return b"".join(frame(r, self.framing) for r in batch.records)
        config = self.syslog
        sd = structured_data(batch.meta, config.sd_id) if config.structured_data else NIL
        records = batch.records
        if self.framing == "lf":
            # A line break inside an event would end the syslog message there and let the
            # source write the next one, header included: keep each event on its line.
            records = tuple(one_line(r) for r in records)
        return b"".join(frame(syslog_message(r, config, sd), self.framing) for r in records)

    # --- connection ----------------------------------------------------------------------------

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True if the receiver closed (or reset) the connection since the last write."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            if isinstance(sock, ssl.SSLSocket):
                # TLS 1.3 servers send session tickets after the handshake: readable does not
                # mean closed. A non-blocking read consumes them (or finds the EOF).
                sock.setblocking(False)
                try:
                    return sock.recv(4096) == b""
                except ssl.SSLWantReadError:
                    return False
                finally:
                    sock.settimeout(self.timeout)
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # --- the Driver contract -------------------------------------------------------------------

    def write(self, batch: OutputBatch) -> None:
        if not batch.records:
            return
        data = self.encode(batch)
        # Bounded wait for the stream: behind a receiver that stopped reading, the write in
        # progress can take up to `timeout`; waiting longer than that for our turn would
        # only tie up one more thread (docs/outputs.md, "Deadlines").
        if not self._lock.acquire(timeout=self.timeout):
            raise OutputError(
                f"Tcp output {self.host}:{self.port}: the connection stayed busy for {self.timeout:g}s "
                "(receiver not reading?)"
            )
        try:
            self._write_locked(batch, data)
        finally:
            self._lock.release()

    def _write_locked(self, batch: OutputBatch, data: bytes) -> None:
        if self._closed:
            raise OutputError(f"Tcp output {self.host}:{self.port} is closed")
        if self._sock is not None and self._peer_closed(self._sock):
            self._log.info(
                "Tcp output %s:%d: the receiver closed the connection; reconnecting", self.host, self.port
            )
            self._drop()
        for attempt in (1, 2):
            reused = self._sock is not None
            try:
                if self._sock is None:
                    self._sock = self._connect()
                self._sock.sendall(data)
                return
            except (OSError, ssl.SSLError) as err:  # timeouts and TLS errors are OSErrors
                self._drop()
                if attempt == 1 and reused:
                    self._log.info(
                        "Tcp output %s:%d: write failed (%s); retrying on a new connection",
                        self.host,
                        self.port,
                        err,
                    )
                    continue
                raise OutputError(
                    f"Tcp output {self.host}:{self.port}: cannot deliver {len(batch.records)} event(s): {err}"
                ) from err

    def reopen(self) -> None:
        """Drop the connection (the next write reconnects) and reload the TLS files."""
        with self._lock:
            self._drop()
            if self._tls_files is not None:
                try:
                    self._tls = _tls_context(*self._tls_files)
                except (OSError, ssl.SSLError) as err:
                    # Keep the previous context: a broken renewal must not stop delivery.
                    self._log.error(
                        "Tcp output %s:%d: cannot reload the TLS files: %s", self.host, self.port, err
                    )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
