# SPDX-License-Identifier: GPL-3.0-or-later
"""The WSGI application: HTTP in, service call, HTTP out. No business logic here.

Request pipeline (docs/protocol.md §2, §4.4):

    size checks → authenticate (Kerberos accept, or the connection's existing session) →
    route (POST only) → empty body? answer 200 (auth-only request) → [session.decrypt_request
    → SLDC decompress when Content-Encoding: SLDC → UTF-16 decode → parse] → service → build →
    UTF-16 encode → session.encrypt_response

The bracketed steps are computation on a body already read whole: they run under
:data:`wec.cpu_gate.cpu_gate`, one request at a time per process.

The session (:class:`wec.auth.session.Session`) is the security seam: the app never looks at
how a body is protected. Kerberos sessions unwrap and wrap ``multipart/encrypted`` bodies; a
TLS session passes them through. The client identity is the session's ``principal``.

Every refusal is an :class:`HttpError` raised where it is detected and rendered in one place:
an empty body, the status, a log line naming the peer and the reason. A refused request
changes no state: the service is called only after every check of the transport passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request

import accel.sldc
import accel.utf16
from wec.auth.errors import AuthError, DecryptError
from wec.auth.kerberos import WWW_AUTHENTICATE_CHALLENGES, KerberosAcceptor
from wec.auth.session import Session
from wec.config import CollectorSettings
from wec.cpu_gate import cpu_gate
from wec.protocol import Message, RemoteProtocolError, parse_message
from wec.service import CollectorService, RequestContext, ServiceError
from wec.transport.server import ENVIRON_KEY, ConnectionState

__all__ = ["HttpError", "WecApp"]

log = logging.getLogger("wec.transport.app")
access_log = logging.getLogger("wec.access")

# RFC 9110's name for 413; Python < 3.13 still says "Request Entity Too Large".
_PHRASES = {HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Content Too Large"}


class HttpError(Exception):
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # For the metrics: the request body as received, and as the service saw it (after
    # decryption and decompression); 0 when the request was refused before that step.
    request_bytes: int = 0
    message_bytes: int = 0


def _status_line(code: int) -> str:
    try:
        status = HTTPStatus(code)
    except ValueError:
        return f"{code} Error"
    return f"{code} {_PHRASES.get(status, status.phrase)}"


def decode_text(data: bytes) -> tuple[str, int]:
    """UTF-16 (BOM-sniffed) to text; returns the number of U+FFFD substitutions too."""
    text, replacements, _ = accel.utf16.decode_parts(data)  # the text itself, not a copy
    return text, replacements


class WecApp:
    """One WSGI app per collector (listen address)."""

    def __init__(
        self,
        collector: CollectorSettings,
        service: CollectorService,
        acceptor: KerberosAcceptor | None,
        *,
        max_events: int = 20000,
    ) -> None:
        self.collector = collector
        self.service = service
        self.acceptor = acceptor
        self.max_events = max_events
        if collector.authentication.type == "Kerberos" and acceptor is None:
            raise ValueError("a Kerberos collector needs a KerberosAcceptor")
        # TLS: the client certificate authenticated the connection during the handshake
        # (wec.transport.tls), which left the session on the connection state.
        self.certificate_auth = collector.authentication.type == "Tls"

    # --- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        conn: ConnectionState | None = environ.get(ENVIRON_KEY)
        request = Request(environ)
        if conn is None:  # served by a server without per-connection state: refuse
            resp = self._refuse(
                request, None, HttpError(500, "no connection state (not served by wec's server)")
            )
        else:
            with conn.lock:
                conn.requests += 1
                resp = self._handle(request, conn)
        headers = [*resp.headers, ("Content-Length", str(len(resp.body)))]
        if resp.status in (400, 411, 413, 500):
            # After a refused request the connection state may be out of step with the source
            # (GSS sequence numbers); closing is what Windows expects after an error anyway.
            headers.append(("Connection", "close"))
        start_response(_status_line(resp.status), headers)
        if access_log.isEnabledFor(logging.INFO):  # off by default: skip the strftime
            access_log.info(
                '%s:%s - %s [%s] "%s %s" %d %.1fms',
                environ.get("REMOTE_ADDR"),
                environ.get("REMOTE_PORT"),
                (conn.principal if conn else None) or "-",
                time.strftime("%d/%b/%Y:%H:%M:%S %z"),
                request.method,
                environ.get("REQUEST_URI") or request.path,
                resp.status,
                (time.monotonic() - started) * 1000,
            )
        # Label by path only for requests that got through authentication and routing: an
        # attacker must not be able to create one time series per random URL.
        uri = request.path if resp.status in (200, 403, 503) else "(rejected)"
        self.service.metrics.http(
            uri,
            resp.status,
            time.monotonic() - started,
            resp.request_bytes,
            resp.message_bytes,
            conn.principal if conn else None,
        )
        return [resp.body]

    def _handle(self, request: Request, conn: ConnectionState) -> _Response:
        """Every outcome of one request as a response, refusals included (rendered here)."""
        received = opened = 0
        try:
            length = self._declared_length(request)
            # Authentication comes before routing, as in OpenWEC: an unauthenticated peer
            # learns nothing but "authenticate" (401), whatever it asks for. It also comes
            # before the body is read, so that an unauthenticated peer cannot hold a thread
            # while it trickles a body: its unread body goes with the connection.
            try:
                session, auth_headers = self._authenticate(request, conn)
            except HttpError as err:
                if length:
                    err.headers.append(("Connection", "close"))
                raise
            body = self._read_body(request, length)
            received = len(body)
            if request.method != "POST":
                raise HttpError(404, f"method {request.method} not allowed")
            if not body:
                resp = _Response(200, b"", auth_headers)  # the auth-only request
            else:
                # The body is in memory: what follows up to the service is computation only
                # (wec.cpu_gate), done one request at a time per process.
                with cpu_gate:
                    xml_bytes = self._decompress(request, self._decrypt(request, session, body))
                    opened = len(xml_bytes)
                    message = self._parse(session, xml_bytes)
                    del xml_bytes
                resp = self._serve(request, conn, session, message, auth_headers)
        except HttpError as err:
            resp = self._refuse(request, conn, err)
        except Exception:
            log.exception(
                "internal error on %s %s from %s",
                request.method,
                request.path,
                request.environ.get("REMOTE_ADDR"),
            )
            resp = _Response(500)
        resp.request_bytes, resp.message_bytes = received, opened
        return resp

    def _refuse(self, request: Request, conn: ConnectionState | None, err: HttpError) -> _Response:
        """The one place a refusal is logged and rendered: an empty body and the status."""
        level = logging.INFO if err.status == 401 and "no Authorization" in err.reason else logging.WARNING
        if err.status == 503 and err.reason.startswith("database unavailable"):
            level = logging.DEBUG  # the outage itself is logged once, by the store
        log.log(
            level,
            "%s %s from %s:%s (%s): %d %s",
            request.method,
            request.path,
            request.environ.get("REMOTE_ADDR"),
            request.environ.get("REMOTE_PORT"),
            conn.principal if conn else None,
            err.status,
            err.reason,
        )
        return _Response(err.status, b"", err.headers)

    # --- steps ---------------------------------------------------------------------------------

    def _declared_length(self, request: Request) -> int:
        """The body's length from the headers, refused when ambiguous or too large."""
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise HttpError(400, "chunked bodies are not accepted (a Content-Length is required)")
        declared = request.headers.get("Content-Length")
        if declared is not None and not (declared.isascii() and declared.strip().isdigit()):
            # "+5", "-5", "5, 5": werkzeug and cheroot would not agree on the body's length.
            raise HttpError(400, f"invalid Content-Length {declared!r}")
        length = request.content_length or 0
        if length > self.collector.max_content_length:
            raise HttpError(
                413, f"body of {length} bytes over max_content_length {self.collector.max_content_length}"
            )
        return length

    def _read_body(self, request: Request, length: int) -> bytes:
        data = request.get_data(cache=False) if length else b""
        if len(data) != length:
            raise HttpError(400, f"body shorter than its Content-Length ({len(data)} < {length})")
        return data

    def _authenticate(self, request: Request, conn: ConnectionState) -> tuple[Session, list[tuple[str, str]]]:
        """Kerberos: the connection's session, and the WWW-Authenticate header to send (on
        the accepting request). TLS: the session the handshake established; an Authorization
        header means nothing there."""
        if self.certificate_auth:
            if conn.session is None:
                raise HttpError(401, "no usable client certificate identity (empty subject CN)")
            return conn.session, []
        assert self.acceptor is not None
        authorization = request.headers.get("Authorization")
        challenge = [("WWW-Authenticate", c) for c in WWW_AUTHENTICATE_CHALLENGES]
        if authorization:
            try:
                result = self.acceptor.accept(authorization)
            except AuthError as err:
                # The connection is no longer anyone's: its previous principal must not be
                # named in the logs and metrics of this refusal or of later requests.
                conn.close()
                conn.principal = None
                raise HttpError(401, f"authentication failed: {err}", challenge) from err
            conn.close()  # a new handshake on a connection replaces the previous context
            conn.closed = False
            conn.session = result.session
            conn.principal = result.session.principal
            return result.session, [("WWW-Authenticate", result.www_authenticate)]
        if conn.session is None:
            raise HttpError(401, "no Authorization on an unauthenticated connection", challenge)
        return conn.session, []

    def _decrypt(self, request: Request, session: Session, body: bytes) -> bytes:
        try:
            return session.decrypt_request(request.headers.get("Content-Type", ""), body)
        except DecryptError as err:
            raise HttpError(400, f"cannot decrypt body: {err}") from err

    def _decompress(self, request: Request, plain: bytes) -> bytes:
        encoding = request.headers.get("Content-Encoding")
        if encoding is None:
            return plain
        if encoding.strip().upper() != "SLDC":
            raise HttpError(400, f"unsupported Content-Encoding {encoding!r}")
        if accel.sldc.looks_uncompressed(plain):
            return plain
        try:
            cap = accel.sldc.default_cap(len(plain), max(self.collector.max_content_length, 512000))
            return bytes(accel.sldc.decompress(plain, max_output=cap))
        except accel.sldc.SldcError as err:
            raise HttpError(400, f"invalid SLDC body: {err}") from err

    def _parse(self, session: Session, xml_bytes: bytes) -> Message:
        """The decompressed body decoded (UTF-16) and parsed into a message."""
        text, replaced = decode_text(xml_bytes)
        if replaced:
            log.warning(
                "invalid UTF-16 from %s: %d character(s) replaced by U+FFFD", session.principal, replaced
            )
        try:
            return parse_message(text, max_events=self.max_events)
        except RemoteProtocolError as err:
            raise HttpError(err.status, f"bad SOAP message: {err}") from err

    def _serve(
        self,
        request: Request,
        conn: ConnectionState,
        session: Session,
        message: Message,
        auth_headers: list[tuple[str, str]],
    ) -> _Response:
        """The message handed to the service; its answer encoded and encrypted."""
        ctx = RequestContext(
            principal=session.principal,
            ip=conn.remote_addr,
            path=_request_target(request),
            collector=self.collector,
            scheme=session.url_scheme,
            issuer_thumbprint=session.issuer_thumbprint,
        )
        try:
            reply = self.service.handle(message, ctx)
        except ServiceError as err:
            raise HttpError(err.status, str(err)) from err
        except RemoteProtocolError as err:  # e.g. collector host not derivable from a:To
            raise HttpError(err.status, str(err)) from err
        if reply is None:
            return _Response(200, b"", auth_headers)
        content_type, wire = session.encrypt_response(accel.utf16.encode(reply))
        return _Response(200, wire, [*auth_headers, ("Content-Type", content_type)])


def _request_target(request: Request) -> str:
    uri = request.environ.get("REQUEST_URI")
    if uri:
        return str(uri)
    qs = request.environ.get("QUERY_STRING")
    return request.path + (f"?{qs}" if qs else "")
