# SPDX-License-Identifier: GPL-3.0-or-later
"""cheroot, adapted to what Windows Event Forwarding needs from an HTTP server.

Two things plain WSGI cannot express:

* **State per TCP connection.** Windows authenticates once per connection and then sends
  encrypted bodies without an ``Authorization`` header (docs/design.md §5.2). Each cheroot
  connection therefore carries a :class:`ConnectionState` that our gateway hands to the WSGI
  app as ``environ["wec.connection"]``; it is closed (Kerberos context dropped) when the
  connection closes. Keying on (address, port) would be wrong: ports are reused.
* **PROXY protocol.** Behind HAProxy the first bytes of a connection are a PROXY header; it
  is read once, before the first HTTP request, and replaces the peer address.

TCP keepalive options are applied to each accepted socket, as OpenWEC does.

**No thread waits for a slow client** (docs/security.md). cheroot hands a connection to a
worker thread as soon as it is readable, and the worker then reads the whole request: a few
dozen clients trickling a byte every few seconds would hold every thread. Here a worker first
reads, without blocking, what the socket already holds; until the header block is complete it
gives the connection back to cheroot's selector (no thread held) and keeps the bytes. A header
block must be complete within ``header_timeout`` of its first byte, and a body must arrive at
``min_body_rate`` or better (bounded by ``request_timeout``). Connections are capped in total
(``max_connections``, per process) and, before authentication, per source address
(``max_connections_per_address``): beyond a cap the peer gets a fast 503 and a closed socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cheroot import makefile as cheroot_makefile
from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi

from wec.auth.session import Session
from wec.transport.proxy import ProxyHeaderError, read_proxy_header

__all__ = ["ConnectionLimits", "ConnectionState", "WecServer", "make_server"]

log = logging.getLogger("wec.transport")

ENVIRON_KEY = "wec.connection"

_HEADER_END = b"\r\n\r\n"
_PROXY_V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n"
)


@dataclass
class ConnectionState:
    """What the collector knows about one TCP connection."""

    remote_addr: str
    remote_port: int
    connection_id: int
    # Set by the app after a successful authentication; closed with the connection.
    session: Session | None = None
    principal: str | None = None
    requests: int = 0
    opened_at: float = field(default_factory=time.monotonic)
    closed: bool = False
    # Serialises requests of one connection (HTTP/1.1 without pipelining is sequential
    # already; this guards the GSS sequence numbers should a client pipeline anyway).
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        self.closed = True
        session, self.session = self.session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # never let cleanup of one connection hurt the server
                log.debug("error closing connection session", exc_info=True)


class _Throttled:
    """At most one log line per reason per ``interval`` seconds, with the count of the others:
    refusals come in floods under attack, and the log must not become the next target."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, reason: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(reason, -1e9) < self.interval:
                self._skipped[reason] = self._skipped.get(reason, 0) + 1
                return
            self._last[reason] = now
            skipped = self._skipped.pop(reason, 0)
        suffix = f" (and {skipped} more in the last {self.interval:.0f}s)" if skipped else ""
        log.warning(msg + "%s", *args, suffix)


_refusals = _Throttled()

_ids = iter(range(1, 1 << 62))
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


@dataclass
class ConnectionLimits:
    """Connection counts of one process, shared by its servers; the caps of the settings.

    ``per_address`` counts only connections that have not authenticated yet: thousands of
    machines behind one NAT address are fine once authenticated, while one address cannot
    hold more than ``max_per_address`` unauthenticated sockets.
    """

    max_total: int = 16384
    max_per_address: int = 64  # 0: no per-address cap
    total: int = 0
    per_address: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self) -> bool:
        with self.lock:
            if self.max_total and self.total >= self.max_total:
                return False
            self.total += 1
            return True

    def close(self) -> None:
        with self.lock:
            self.total -= 1

    def enter_address(self, addr: str) -> bool:
        with self.lock:
            count = self.per_address.get(addr, 0)
            if self.max_per_address and count >= self.max_per_address:
                return False
            self.per_address[addr] = count + 1
            return True

    def leave_address(self, addr: str) -> None:
        with self.lock:
            count = self.per_address.get(addr, 0) - 1
            if count > 0:
                self.per_address[addr] = count
            else:
                self.per_address.pop(addr, None)


class _DeadlineSocket:
    """The socket as the request reader sees it: every read is bounded by the deadline of the
    request being read, not only by the per-read timeout.

    cheroot reads a request (PROXY header, request line, headers, body) in a worker thread, and
    its timeout applies to each ``recv`` alone: a client trickling one byte a minute would hold
    a worker thread for ever, and a few dozen such clients would stall the collector before
    any authentication happens (slowloris). Between requests the connection waits in cheroot's
    selector, not here, so idle keep-alive connections are not affected.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        self._sock = sock
        self._idle_timeout = idle_timeout
        self.deadline: float | None = None
        # Bytes of the next request read ahead while its header block was incomplete.
        self.pending = bytearray()
        self.first_byte_at: float | None = None

    def fill(self, limit: int) -> bool | None:
        """Read what the socket holds now, without blocking, into :attr:`pending`.

        True: more bytes may come; False: the peer closed; None: nothing was there to read.
        """
        got_any = False
        previous = self._sock.gettimeout()
        # Non-blocking for real: with a timeout set, Python would poll (and wait) before recv.
        self._sock.settimeout(0.0)
        try:
            while len(self.pending) < limit:
                try:
                    chunk = self._sock.recv(min(65536, limit - len(self.pending)))
                except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                    # SSLWantReadError: a TLS connection (wec.transport.tls) with no whole
                    # record to decrypt yet.
                    return True if got_any else None
                if not chunk:
                    return False
                if self.first_byte_at is None:
                    self.first_byte_at = time.monotonic()
                self.pending += chunk
                got_any = True
            return True
        finally:
            self._sock.settimeout(previous)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.pending:
            view = memoryview(buffer)
            n = min(len(self.pending), nbytes or len(view))
            view[:n] = self.pending[:n]
            del self.pending[:n]
            return n
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                # cheroot recognises this text as a timeout (408 if a request had started).
                raise TimeoutError("timed out")
            self._sock.settimeout(min(remaining, self._idle_timeout))
        return self._sock.recv_into(buffer, nbytes, flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _Connection(cheroot_server.HTTPConnection):  # type: ignore[misc]
    """An HTTP connection with wec's per-connection state, optional PROXY header, deadlines on
    the reading of each request, and its place in the connection counts."""

    wec_state: ConnectionState | None = None
    _proxy_done = False
    _first_byte_seen = False
    _reader: _DeadlineSocket | None = None
    _counted = False  # holds a place in the process total
    _address_slot: str | None = None  # holds a place in its address's unauthenticated count

    def __init__(self, server: WecServer, sock: socket.socket, makefile: Any = None) -> None:
        if makefile is None:
            super().__init__(server, sock)
        else:
            super().__init__(server, sock, makefile)
        server._apply_keepalive(sock)
        self._counted = server.limits.open()
        if server.request_timeout and isinstance(sock, socket.socket):
            self._reader = _DeadlineSocket(sock, float(server.timeout))
            self.rfile = cheroot_makefile.StreamReader(self._reader, "rb", self.rbufsize)

    def state(self) -> ConnectionState:
        if self.wec_state is None:
            self.wec_state = ConnectionState(
                remote_addr=str(self.remote_addr or ""),
                remote_port=int(self.remote_port or 0),
                connection_id=_next_id(),
            )
        return self.wec_state

    def _refuse(self, why: str) -> bool:
        _refusals.warning(why, "refusing connection from %s:%s: %s", self.remote_addr, self.remote_port, why)
        with contextlib.suppress(OSError):
            self.socket.sendall(_BUSY_RESPONSE)
        return False

    def _header_block_ready(self) -> bool | None:
        """Whether the next request's header block is buffered (None: drop the connection)."""
        reader = self._reader
        assert reader is not None
        if self.rfile.has_data():
            return True  # cheroot already buffered the next (pipelined) request
        limit = self.server.max_request_header_size + 4096
        alive = reader.fill(limit)
        data = reader.pending
        start = 0
        if self.server.proxy_protocol and not self._proxy_done and data.startswith(_PROXY_V2_SIGNATURE):
            # The binary PROXY v2 signature itself contains CRLF CRLF: look after the header.
            start = 16 + int.from_bytes(data[14:16], "big") if len(data) >= 16 else len(data)
        if data.find(_HEADER_END, start) >= 0:
            return True
        if data[start : start + 1] == b"\x16" and self.server.ssl_adapter is None:
            return True  # a TLS ClientHello on a plain port: _communicate says so and closes
        if alive is False:
            return None  # closed before sending a whole request: nothing to answer
        if len(data) >= limit:
            return True  # let the parser refuse the oversized header block (431/400)
        if reader.first_byte_at is not None:
            waited = time.monotonic() - reader.first_byte_at
            if waited > min(self.server.header_timeout, self.server.request_timeout):
                log.warning(
                    "closing connection from %s:%s: incomplete request headers after %.0fs (%d bytes)",
                    self.remote_addr,
                    self.remote_port,
                    waited,
                    len(data),
                )
                return None
        return False

    def communicate(self) -> bool:
        if not self._counted:
            return self._refuse(f"{self.server.limits.max_total} connections open (server.max_connections)")
        # Without PROXY protocol the peer's address is known now; behind a balancer it is known
        # once the PROXY header is read (_communicate), and the balancer's own limits apply first.
        if not self.server.proxy_protocol and not self._track_address():
            return self._refuse_address()
        if self._reader is not None:
            ready = self._header_block_ready()
            if ready is None:
                return False
            if not ready:
                # Back to cheroot's selector until more bytes come: no thread waits for them.
                return True
            if self.server.overloaded():
                # Every thread is busy and requests queue behind them: a fast 503 (Windows
                # retries later) costs less than a queue that grows until sources time out.
                return self._refuse(
                    f"all {self.server.requests.min} threads busy and "
                    f"{self.server.max_queued_requests} requests waiting (server.max_queued_requests)"
                )
            self._reader.deadline = (self._reader.first_byte_at or time.monotonic()) + min(
                self.server.header_timeout, self.server.request_timeout
            )
        try:
            return self._communicate()
        finally:
            if self._reader is not None:
                self._reader.deadline = None
                self._reader.first_byte_at = None
                with contextlib.suppress(OSError):
                    self.socket.settimeout(self.server.timeout)

    def _communicate(self) -> bool:
        if self.server.proxy_protocol and not self._proxy_done:
            try:
                info = read_proxy_header(self.rfile)
            except (ProxyHeaderError, OSError) as err:
                log.warning("refusing connection from %s:%s: %s", self.remote_addr, self.remote_port, err)
                return False
            self._proxy_done = True
            if info.address is not None:
                self.remote_addr, self.remote_port = info.address, info.port
        if not self._track_address():
            return self._refuse_address()
        if not self._first_byte_seen and self.server.ssl_adapter is None:
            self._first_byte_seen = True
            if self._starts_with_tls():
                # A source configured for HTTPS (IssuerCA=) pointed at an HTTP port: cheroot
                # would wait for a request line until the timeout while the client waits for
                # a ServerHello. Say so and close.
                log.warning(
                    "TLS handshake from %s:%s on a plain HTTP (Kerberos) port: connection closed",
                    self.remote_addr,
                    self.remote_port,
                )
                return False
        return bool(super().communicate())  # type: ignore[no-untyped-call]

    def _starts_with_tls(self) -> bool:
        try:
            first: bytes = self.rfile.peek(1)[:1]
        except OSError:  # timed out or reset: the request reading below reports it
            return False
        return first == b"\x16"  # a TLS handshake record (ClientHello)

    def _refuse_address(self) -> bool:
        return self._refuse(
            f"{self.server.limits.max_per_address} unauthenticated connections from this address "
            "(server.max_connections_per_address)"
        )

    def _track_address(self) -> bool:
        """Count this connection against its address until it authenticates."""
        authenticated = self.wec_state is not None and self.wec_state.principal is not None
        if authenticated:
            self._leave_address()
            return True
        if self._address_slot is not None:
            return True
        addr = str(self.remote_addr or "")
        if not self.server.limits.enter_address(addr):
            return False
        self._address_slot = addr
        return True

    def _leave_address(self) -> None:
        if self._address_slot is not None:
            self.server.limits.leave_address(self._address_slot)
            self._address_slot = None

    def body_started(self, content_length: int) -> None:
        """The header block is parsed: the body now has its own deadline, by rate."""
        if self._reader is None:
            return
        s = self.server
        allowance = 5.0 + (content_length / s.min_body_rate if s.min_body_rate else s.request_timeout)
        self._reader.deadline = time.monotonic() + min(allowance, s.request_timeout)

    def replace_socket(self, sock: socket.socket) -> None:
        """Carry on over ``sock``, a wrapper of the accepted socket (TLS, once its handshake is
        done in this connection's worker: wec.transport.tls). Reader, writer and the request
        deadline follow it."""
        self.socket = sock
        if self._reader is not None:
            self._reader = _DeadlineSocket(sock, float(self.server.timeout))
            self.rfile = cheroot_makefile.StreamReader(self._reader, "rb", self.rbufsize)
        else:
            self.rfile = cheroot_makefile.StreamReader(sock, "rb", self.rbufsize)
        self.wfile = cheroot_makefile.StreamWriter(sock, "wb", self.wbufsize)

    def close(self) -> None:
        if self.wec_state is not None:
            self.wec_state.close()
        self._leave_address()
        if self._counted:
            self._counted = False
            self.server.limits.close()
        super().close()


class _Gateway(cheroot_wsgi.Gateway_10):  # type: ignore[misc]
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        env: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        conn: _Connection = self.req.conn
        env[ENVIRON_KEY] = conn.state()
        length = str(env.get("CONTENT_LENGTH") or "0")
        conn.body_started(int(length) if length.isdigit() else 0)
        # After PROXY protocol, the peer address is the source's, not the balancer's.
        env["REMOTE_ADDR"] = str(conn.remote_addr or "")
        env["REMOTE_PORT"] = str(conn.remote_port or "")
        return env

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        # cheroot sends an app's "Connection: close" header but keeps the connection open (it
        # only looks at its own close_connection flag). The app asks for a close after a refused
        # request, when the GSS context may be out of step with the source: really close.
        if any(k.lower() == "connection" and "close" in v.lower() for k, v in headers):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)  # type: ignore[no-untyped-call]


class WecServer(cheroot_wsgi.Server):  # type: ignore[misc]
    ConnectionClass = _Connection

    def __init__(
        self,
        bind: tuple[str, int],
        app: Callable[..., Any],
        *,
        threads: int = 32,
        proxy_protocol: bool = False,
        keepalive: tuple[int | None, int | None, int | None] = (7200, None, None),
        reuse_port: bool = False,
        timeout: float = 120.0,
        shutdown_timeout: float = 30.0,
        max_body: int = 0,
        server_name: str = "wec",
        request_timeout: float = 60.0,
        header_timeout: float = 10.0,
        min_body_rate: float = 8192.0,
        limits: ConnectionLimits | None = None,
        max_queued_requests: int = 64,
    ) -> None:
        # Set before cheroot can create any connection: _Connection reads them.
        self.request_timeout = request_timeout
        self.header_timeout = header_timeout
        self.min_body_rate = min_body_rate
        self.limits = limits if limits is not None else ConnectionLimits()
        self.max_queued_requests = max_queued_requests
        super().__init__(
            bind,
            app,
            numthreads=threads,
            server_name=server_name,
            timeout=int(timeout),
            shutdown_timeout=int(shutdown_timeout),
            reuse_port=reuse_port,
            accepted_queue_timeout=10,
        )
        # cheroot picks a gateway from the WSGI version; ours adds the connection state.
        self.gateway = _Gateway
        self.proxy_protocol = proxy_protocol
        self.keepalive = keepalive
        # Windows keeps one connection per subscription open; thousands of sources means
        # thousands of idle keep-alive connections, far above cheroot's default of 10.
        self.keep_alive_conn_limit = 1 << 20
        # cheroot's own guard (413) sits above ours; the app answers 413 with a log line first.
        self.max_request_body_size = max_body
        self.max_request_header_size = 64 * 1024

    def overloaded(self) -> bool:
        """Whether more complete requests wait for a thread than ``max_queued_requests``."""
        pool = self.requests
        return bool(self.max_queued_requests) and pool is not None and pool.qsize > self.max_queued_requests

    def _apply_keepalive(self, sock: socket.socket) -> None:
        idle, intvl, probes = self.keepalive
        if idle is None:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if hasattr(socket, "TCP_KEEPIDLE"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
            if intvl is not None and hasattr(socket, "TCP_KEEPINTVL"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
            if probes is not None and hasattr(socket, "TCP_KEEPCNT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, probes)
        except OSError:
            log.debug("could not set TCP keepalive options", exc_info=True)


def make_server(bind: tuple[str, int], app: Callable[..., Any], **kwargs: Any) -> WecServer:
    return WecServer(bind, app, **kwargs)
