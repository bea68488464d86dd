# SPDX-License-Identifier: GPL-3.0-or-later
"""cheroot, adapted to what Windows Event Forwarding needs from an HTTP server.

Two things plain WSGI cannot express:

* **State per TCP connection.** Windows authenticates once per connection and then sends
  encrypted bodies without an ``Authorization`` header (DESIGN.md decision 2). Each cheroot
  connection therefore carries a :class:`ConnectionState` that our gateway hands to the WSGI
  app as ``environ["wec.connection"]``; it is closed (Kerberos context dropped) when the
  connection closes. Keying on (address, port) would be wrong: ports are reused.
* **PROXY protocol.** Behind HAProxy the first bytes of a connection are a PROXY header; it
  is read once, before the first HTTP request, and replaces the peer address.

TCP keepalive options are applied to each accepted socket, as OpenWEC does.
"""

from __future__ import annotations

import contextlib
import logging
import socket
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

__all__ = ["ConnectionState", "WecServer", "make_server"]

log = logging.getLogger("wec.transport")

ENVIRON_KEY = "wec.connection"


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


_ids = iter(range(1, 1 << 62))
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


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

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
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
    """An HTTP connection with wec's per-connection state, optional PROXY header, and a
    deadline on the reading of each request."""

    wec_state: ConnectionState | None = None
    _proxy_done = False
    _first_byte_seen = False
    _reader: _DeadlineSocket | None = None

    def __init__(self, server: WecServer, sock: socket.socket, makefile: Any = None) -> None:
        if makefile is None:
            super().__init__(server, sock)
        else:
            super().__init__(server, sock, makefile)
        server._apply_keepalive(sock)
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

    def communicate(self) -> bool:
        if self._reader is not None:
            self._reader.deadline = time.monotonic() + self.server.request_timeout
        try:
            return self._communicate()
        finally:
            if self._reader is not None:
                self._reader.deadline = None
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
        super().close()


class _Gateway(cheroot_wsgi.Gateway_10):  # type: ignore[misc]
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        env: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        conn: _Connection = self.req.conn
        env[ENVIRON_KEY] = conn.state()
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
    ) -> None:
        # Set before cheroot can create any connection: _Connection reads it.
        self.request_timeout = request_timeout
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
