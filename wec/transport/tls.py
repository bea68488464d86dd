# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS collectors: cheroot with the TLS handshake moved out of its accept thread.

cheroot wraps each accepted socket (the whole TLS handshake) in the one thread that also
accepts every other connection: a client that opens a connection and stalls its handshake
would stop the collector from accepting anyone. Here the adapter hands cheroot the raw socket,
and the handshake is the first thing the connection's *worker* does, bounded by
``handshake_timeout`` for the whole of it (PROXY header included); a failed or slow handshake
is logged and the connection closed, and nothing else is affected.

After the handshake the verified client certificate becomes the connection's
:class:`~wec.auth.tls.TlsSession` (principal = subject CN), which the app uses exactly as it
uses a Kerberos session. The credentials can be reloaded (SIGHUP): new connections use the new
ones, established connections keep theirs.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from cheroot import makefile as cheroot_makefile
from cheroot import ssl as cheroot_ssl

from wec.auth.tls import TlsConfigError, TlsCredentials, TlsSession, client_identity
from wec.transport.proxy import ProxyHeaderError, read_proxy_header
from wec.transport.server import WecServer, _Connection

__all__ = ["DEFAULT_HANDSHAKE_TIMEOUT", "TlsEndpoint", "TlsServer", "make_tls_server"]

log = logging.getLogger("wec.transport.tls")

# Seconds a client gets to complete the TLS handshake (Windows needs a few round trips).
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10.0
_TLS_HANDSHAKE_RECORD: Final = 0x16
_PLAIN_HTTP_ANSWER: Final = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n"
    b"Connection: close\r\n\r\nThis port speaks HTTPS (TLS) only"
)


class TlsEndpoint:
    """The current credentials of one HTTPS collector, and how to load them again."""

    def __init__(self, loader: Callable[[], TlsCredentials], name: str = "") -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self.name = name
        self.credentials = loader()

    def reload(self) -> bool:
        """Load the files again; on failure keep serving with the current credentials."""
        with self._lock:
            try:
                fresh = self._loader()
            except TlsConfigError as err:
                log.error("%s: TLS reload failed, keeping the current certificates: %s", self.name, err)
                return False
            self.credentials = fresh
        log.warning(
            "%s: TLS certificates reloaded (%d CA(s): %s)",
            self.name,
            len(fresh.thumbprints),
            ", ".join(f"{cn}={tp}" for cn, tp in sorted(fresh.thumbprints.items())),
        )
        return True


class _DeferredAdapter(cheroot_ssl.Adapter):  # type: ignore[misc]
    """cheroot's TLS adapter interface, with the wrapping left to the connection's worker."""

    def __init__(self) -> None:
        self.context = None

    def bind(self, sock: socket.socket) -> socket.socket:
        return sock

    def wrap(self, sock: socket.socket) -> tuple[socket.socket, dict[str, str]]:
        return sock, {}

    def get_environ(self) -> dict[str, str]:
        return {}

    def makefile(self, sock: socket.socket, mode: str = "r", bufsize: int = -1) -> Any:
        return cheroot_makefile.MakeFile(sock, mode, bufsize)


class _RawReader:
    """Unbuffered reads from the accepted socket, for a PROXY header in front of TLS: not a
    byte of the ClientHello may be consumed."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def read(self, n: int, /) -> bytes:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv(n)

    def readline(self, limit: int = -1, /) -> bytes:
        line = b""
        while not line.endswith(b"\n") and (limit < 0 or len(line) < limit):
            byte = self.read(1)
            if not byte:
                break
            line += byte
        return line


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _TlsConnection(_Connection):
    """A connection whose first act, in its worker thread, is the TLS handshake."""

    server: TlsServer
    _tls_ready = False

    def communicate(self) -> bool:
        if not self._tls_ready:
            tls = self._handshake()
            if tls is None:
                return False
            self._tls_ready = True
            if not tls.pending():
                # The request has not arrived yet: wait for it in cheroot's selector, not here.
                return True
        return super().communicate()

    def _peer(self) -> str:
        return f"{self.remote_addr}:{self.remote_port}"

    def _handshake(self) -> ssl.SSLSocket | None:
        raw: socket.socket = self.socket
        deadline = time.monotonic() + self.server.handshake_timeout
        try:
            if self.server.proxy_protocol and not self._proxy_done:
                info = read_proxy_header(_RawReader(raw, deadline))
                self._proxy_done = True
                if info.address is not None:
                    self.remote_addr, self.remote_port = info.address, info.port
            raw.settimeout(_remaining(deadline))
            first = raw.recv(1, socket.MSG_PEEK)
            if not first:
                # A TCP health check or port probe: nothing worth a warning.
                log.debug("TLS connection from %s closed before its handshake", self._peer())
                return None
            if first[0] != _TLS_HANDSHAKE_RECORD:
                self._refuse_not_tls(raw, first)
                return None
            creds: TlsCredentials = self.server.tls.credentials
            tls = creds.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            self.socket = tls  # the accepted socket is now inside it: close() must close this
            # CPython bounds the whole handshake by this timeout, however slowly it trickles.
            tls.settimeout(_remaining(deadline))
            tls.do_handshake()
        except ProxyHeaderError as err:
            log.warning("refusing connection from %s: %s", self._peer(), err)
            return None
        except ssl.SSLCertVerificationError as err:
            log.warning(
                "TLS handshake from %s refused: client certificate %s", self._peer(), err.verify_message
            )
            return None
        except ssl.SSLError as err:
            log.warning("TLS handshake from %s failed: %s", self._peer(), _describe(err))
            return None
        except TimeoutError:
            log.warning(
                "TLS handshake from %s not completed within %.0fs: connection closed",
                self._peer(),
                self.server.handshake_timeout,
            )
            return None
        except OSError as err:
            log.warning("TLS handshake from %s failed: %s", self._peer(), err)
            return None
        if not self._establish(tls, creds):
            return None
        tls.settimeout(self.server.timeout)
        self.replace_socket(tls)
        return tls

    def _establish(self, tls: ssl.SSLSocket, creds: TlsCredentials) -> bool:
        """The verified certificate → the connection's session; False drops the connection."""
        identity = client_identity(tls.getpeercert() or {})
        if identity.common_name is None:
            log.warning("TLS client %s: certificate subject has no CN: connection dropped", self._peer())
            return False
        issuer = creds.issuer_thumbprint(identity)
        if issuer is None:
            log.warning(
                "TLS client %s (%s): issuer CN %r matches no configured CA: connection dropped",
                self._peer(),
                identity.common_name,
                identity.issuer_common_name,
            )
            return False
        state = self.state()
        if identity.common_name:
            state.session = TlsSession(identity.common_name, issuer)
            state.principal = identity.common_name
        # else: an empty CN; the app answers 401 to every request of this connection.
        cipher = tls.cipher()
        log.debug(
            "TLS %s %s from %s: client %r, issuer %s",
            tls.version(),
            cipher[0] if cipher else "?",
            self._peer(),
            identity.common_name,
            issuer,
        )
        return True

    def _refuse_not_tls(self, raw: socket.socket, first: bytes) -> None:
        if first.isalpha():
            log.warning("plain HTTP from %s on a TLS port: answered 400 and closed", self._peer())
            with contextlib.suppress(OSError):
                raw.sendall(_PLAIN_HTTP_ANSWER)
        else:
            log.warning("connection from %s does not start with a TLS handshake: closed", self._peer())


def _describe(err: ssl.SSLError) -> str:
    reason = getattr(err, "reason", None)
    hints = {
        "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the client sent no certificate",
        "NO_SHARED_CIPHER": "no cipher suite in common (see docs/tls.md, old Windows)",
        "UNSUPPORTED_PROTOCOL": "TLS version below 1.2",
        "WRONG_VERSION_NUMBER": "not TLS, or TLS below 1.0",
    }
    if reason in hints:
        return f"{hints[reason]} ({reason})"
    return str(reason or err)


class TlsServer(WecServer):
    """A :class:`WecServer` that speaks HTTPS with mandatory client certificates."""

    ConnectionClass = _TlsConnection

    def __init__(
        self,
        bind: tuple[str, int],
        app: Callable[..., Any],
        *,
        endpoint: TlsEndpoint,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(bind, app, **kwargs)
        self.tls = endpoint
        self.handshake_timeout = handshake_timeout
        # Set so that cheroot reports https (wsgi.url_scheme); its wrap() does not block.
        self.ssl_adapter = _DeferredAdapter()


def make_tls_server(
    bind: tuple[str, int], app: Callable[..., Any], endpoint: TlsEndpoint, **kwargs: Any
) -> TlsServer:
    return TlsServer(bind, app, endpoint=endpoint, **kwargs)
