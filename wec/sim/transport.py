# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP/1.1 + Kerberos session encryption exactly as the Windows WinRM client does it.

Theory of operation (docs/protocol.md §1, §2, §4). One :class:`WinRMConnection` is one TCP
connection and, in Kerberos mode, one GSS context:

1. the first request is a POST with an empty body and ``Authorization: Kerberos <AP-REQ>``
   (a bare krb5 token; ``Negotiate`` + SPNEGO on request); the 200 carries the AP-REP in
   ``WWW-Authenticate``, which completes the (mutual) context;
2. every later request has no Authorization header; its body is the cleartext (the UTF-16
   SOAP, or its SLDC compression) GSS-wrapped in Windows' byte-exact ``multipart/encrypted``;
3. responses are unwrapped with the same context, one at a time, in order.

HTTP is spoken over a raw socket, not ``http.client``, so that header order matches the
Windows capture (Connection, Content-Type, Content-Encoding, Authorization, User-Agent,
Content-Length, Host) and nothing is added behind our back.

TLS (docs/tls.md): :class:`ClientSecurity` carries an ``ssl_context`` holding the machine's
client certificate (:func:`tls_client_context`); with ``mode="plain"`` the same code then
sends plain UTF-16 SOAP over HTTPS to ``https://`` URLs, as a Windows source with
``IssuerCA=`` in its GPO string does.
"""

from __future__ import annotations

import base64
import importlib
import socket
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import gssapi
import gssapi.raw as gss_raw
from gssapi.raw.misc import GSSError

__all__ = [
    "MAX_RESPONSE_BODY",
    "AuthError",
    "ClientSecurity",
    "HttpConnection",
    "HttpResponse",
    "TransportError",
    "WinRMConnection",
    "acquire_credentials",
    "decode_multipart",
    "encode_multipart",
    "sldc_compress",
    "tls_client_context",
]

USER_AGENT: Final = "Microsoft WinRM Client"
SOAP_CONTENT_TYPE: Final = "application/soap+xml;charset=UTF-16"
BOUNDARY: Final = "Encrypted Boundary"
PROTOCOL_KERBEROS: Final = "application/HTTP-Kerberos-session-encrypted"
PROTOCOL_SPNEGO: Final = "application/HTTP-SPNEGO-session-encrypted"
SPNEGO_OID: Final = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
MAX_RESPONSE_BODY: Final = 64 * 1024 * 1024
_MAX_HEADER_BYTES: Final = 64 * 1024


class TransportError(Exception):
    """The connection failed, was closed, or the peer spoke broken HTTP/multipart."""


class AuthError(TransportError):
    """The Kerberos handshake or a wrap/unwrap failed."""


def sldc_compress(data: bytes) -> bytes:
    """SLDC-compress a body with Windows framing (docs/protocol.md §6.3), via ``wec.sim.sldc``.

    Imported lazily: the encoder is a separate module, and sessions that do not compress
    (``compression="off"``, or a subscription without ``Compression=SLDC``) must not need it.
    """
    try:
        module = importlib.import_module("wec.sim.sldc")
    except ImportError as err:
        raise TransportError("SLDC compression requested but wec.sim.sldc is not available") from err
    compress: Callable[[bytes], bytes] = module.compress
    return compress(data)


def acquire_credentials(principal: str, keytab: str | Path) -> gssapi.Credentials:
    """Initiator credentials for ``principal`` from a client keytab, no kinit, no shared ccache.

    Each call gets its own ``MEMORY:`` ccache, so simulated machines never see each other's
    tickets (MIT ``gss_acquire_cred_from``).
    """
    try:
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        return gssapi.Credentials(
            name=name,
            usage="initiate",
            store={"client_keytab": str(keytab), "ccache": f"MEMORY:wec-sim-{uuid.uuid4().hex}"},
        )
    except GSSError as err:
        raise AuthError(f"cannot acquire credentials for {principal} from {keytab}: {err}") from err


def tls_client_context(ca_file: str | Path, cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """A client context as a Windows source has it: the collector's CA trusted, the machine's
    certificate and key presented, TLS 1.2 at least, the server name checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as err:
        files = f"{cert_file}, {key_file}, {ca_file}"
        raise AuthError(f"cannot load the TLS client files ({files}): {err}") from err
    return ctx


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """How a connection authenticates and protects bodies."""

    mode: Literal["kerberos", "negotiate", "plain"] = "kerberos"
    credentials: gssapi.Credentials | None = None  # kerberos/negotiate; None = default credentials
    spn_host: str | None = None  # service host for HTTP@host; None = the URL's host (as Windows)
    spn_service: str = "HTTP"  # "HOST" mimics Windows Server 2025 (docs/protocol.md §4.1)
    ssl_context: ssl.SSLContext | None = None  # TLS extension point (https URLs)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # for encrypted replies: the decrypted cleartext

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]


class HttpConnection:
    """One keep-alive HTTP/1.1 client connection over a raw socket (bounded reads, timeouts)."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ssl_context, self._server_hostname = ssl_context, server_hostname or host
        self._sock: socket.socket | None = None
        self._buf = b""
        self.requests = 0

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)
        except OSError as err:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        self._sock, self._buf, self.requests = sock, b"", 0

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""

    def request(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> HttpResponse:
        """Send one request (headers in the given order) and read its whole response."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        try:
            self._sock.sendall(head.encode("latin-1") + body)
            self.requests += 1
            resp = self._read_response(method)
        except (OSError, ValueError) as err:
            self.close()
            raise TransportError(f"{method} {target}: {err}") from err
        except TransportError:
            self.close()
            raise
        conn = (resp.header("Connection") or "").lower()
        if conn == "close":
            self.close()
        return resp

    # -- response reading ------------------------------------------------------------------

    def _fill(self) -> bool:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _read_until(self, sep: bytes, limit: int) -> bytes:
        while True:
            i = self._buf.find(sep)
            if i >= 0:
                out, self._buf = self._buf[:i], self._buf[i + len(sep) :]
                return out
            if len(self._buf) > limit:
                raise TransportError("response header too long")
            if not self._fill():
                raise TransportError("connection closed by the peer")

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise TransportError("connection closed in the middle of a response body")
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_response(self, method: str) -> HttpResponse:
        head = self._read_until(b"\r\n\r\n", _MAX_HEADER_BYTES).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TransportError(f"bad status line {lines[0]!r}")
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise TransportError(f"bad header line {line!r}")
            headers.append((name.strip(), value.strip()))
        resp = HttpResponse(status, reason, tuple(headers), b"")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("Transfer-Encoding") or "").lower()
        length = resp.header("Content-Length")
        if "chunked" in te:
            body = self._read_chunked()
        elif length is not None:
            if not length.isdigit() or int(length) > MAX_RESPONSE_BODY:
                raise TransportError(f"bad Content-Length {length!r}")
            body = self._read_exact(int(length))
        else:
            while len(self._buf) <= MAX_RESPONSE_BODY and self._fill():
                pass
            body, self._buf = self._buf[:MAX_RESPONSE_BODY], b""
            self.close()
        return HttpResponse(status, reason, tuple(headers), body)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size_line = self._read_until(b"\r\n", 1024).split(b";")[0].strip()
            if not size_line or any(c not in b"0123456789abcdefABCDEF" for c in size_line):
                raise TransportError(f"bad chunk size {size_line!r}")
            size = int(size_line, 16)
            if size == 0:
                while self._read_until(b"\r\n", _MAX_HEADER_BYTES):  # trailers, up to the blank line
                    pass
                return bytes(out)
            if len(out) + size > MAX_RESPONSE_BODY:
                raise TransportError("chunked response too large")
            out += self._read_exact(size)
            self._read_exact(2)


# ---------------------------------------------------------------------------------------------
# multipart/encrypted (MS-WSMV §2.2.9.1), byte-exact like Windows (docs/protocol.md §4.2)


def encode_multipart(protocol: str, gss_header: bytes, ciphertext: bytes, original_length: int) -> bytes:
    """Windows' layout: no tab before the part headers, no blank line after them, no CRLF before
    the closing delimiter; ``Length`` is the cleartext length (the SLDC length for compressed
    bodies). With protocol = Kerberos its size is ``234 + len(str(L)) + 4 + H + L``."""
    return b"".join(
        (
            f"--{BOUNDARY}\r\nContent-Type: {protocol}\r\n".encode(),
            f"OriginalContent: type={SOAP_CONTENT_TYPE};Length={original_length}\r\n".encode(),
            f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n".encode(),
            len(gss_header).to_bytes(4, "little"),
            gss_header,
            ciphertext,
            f"--{BOUNDARY}--\r\n".encode(),
        )
    )


def decode_multipart(body: bytes, boundary: str = BOUNDARY) -> tuple[bytes, bytes, int | None]:
    """``(gss_header, ciphertext, original_length)`` of an encrypted body.

    Accepts Windows' form and the MS-WSMV form with tabs and blank lines (pywinrm). The closing
    delimiter is stripped from the end; we never search forward through ciphertext.
    """
    marker = b"Content-Type: application/octet-stream\r\n"
    start = body.find(marker)
    if not body.startswith(f"--{boundary}".encode()) or start < 0:
        raise TransportError("not a multipart/encrypted body")
    first = body[:start]
    length: int | None = None
    i = first.find(b"Length=")
    if i >= 0:
        digits = first[i + 7 :].split(b"\r\n")[0].split(b";")[0].strip()
        length = int(digits) if digits.isdigit() else None
    payload = body[start + len(marker) :]
    closing = f"--{boundary}--".encode()
    for tail in (closing + b"\r\n", closing):
        if payload.endswith(tail):
            payload = payload[: -len(tail)]
            break
    else:
        raise TransportError("multipart/encrypted body without its closing delimiter")
    if len(payload) < 4:
        raise TransportError("encrypted part too short")
    h = int.from_bytes(payload[:4], "little")
    if h > len(payload) - 4:
        raise TransportError("GSS header length beyond the body")
    ciphertext = payload[4 + h :]
    if length is not None and len(ciphertext) == length + 2 and ciphertext.endswith(b"\r\n"):
        ciphertext = ciphertext[:-2]  # MS-WSMV form: a CRLF before the closing delimiter
    return payload[4 : 4 + h], ciphertext, length


# ---------------------------------------------------------------------------------------------
# The Windows-like session


def _authority(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.scheme.lower(), parts.hostname, port, target


class WinRMConnection:
    """One TCP connection to one WinRM URL, authenticated once, then encrypted bodies.

    ``connect_to`` overrides the TCP target (host, port), for a collector whose SPN name does not
    resolve; the Host header and SPN keep the URL's name, as Windows does.
    ``label_sldc`` puts ``Content-Encoding: SLDC`` on the auth-only POST, which Windows does on
    NotifyTo connections of compressed subscriptions (docs/protocol.md §2.2).
    """

    def __init__(
        self,
        url: str,
        security: ClientSecurity,
        connect_to: tuple[str, int] | None = None,
        timeout: float = 30.0,
        label_sldc: bool = False,
    ) -> None:
        scheme, self.url_host, self.url_port, self.target = _authority(url)
        self.url = url
        self.security = security
        self.label_sldc = label_sldc
        host, port = connect_to or (self.url_host, self.url_port)
        ctx = security.ssl_context if scheme == "https" else None
        self._http = HttpConnection(host, port, timeout, ctx, server_hostname=self.url_host)
        self._gss: gssapi.SecurityContext | None = None
        self.host_header = f"{self.url_host}:{self.url_port}"

    @property
    def protocol(self) -> str:
        return PROTOCOL_SPNEGO if self.security.mode == "negotiate" else PROTOCOL_KERBEROS

    @property
    def is_open(self) -> bool:
        return self._http.connected and (self.security.mode == "plain" or self._gss is not None)

    def close(self) -> None:
        self._http.close()
        self._gss = None

    def open(self) -> None:
        """Connect and, in Kerberos mode, authenticate with the empty POST."""
        self.close()
        self._http.connect()
        if self.security.mode == "plain":
            return
        self._authenticate()

    def _new_context(self) -> gssapi.SecurityContext:
        sec = self.security
        host = sec.spn_host or self.url_host
        name = gssapi.Name(f"{sec.spn_service}@{host}", gssapi.NameType.hostbased_service)
        flags = (
            gssapi.RequirementFlag.mutual_authentication
            | gssapi.RequirementFlag.confidentiality
            | gssapi.RequirementFlag.integrity
        )
        mech = SPNEGO_OID if sec.mode == "negotiate" else gssapi.MechType.kerberos
        return gssapi.SecurityContext(
            name=name, creds=sec.credentials, usage="initiate", flags=flags, mech=mech
        )

    def _authenticate(self) -> None:
        scheme = "Negotiate" if self.security.mode == "negotiate" else "Kerberos"
        try:
            ctx = self._new_context()
            token = ctx.step()
        except GSSError as err:
            self.close()
            raise AuthError(f"cannot start the Kerberos context for {self.url}: {err}") from err
        headers = [("Connection", "Keep-Alive"), ("Content-Type", SOAP_CONTENT_TYPE)]
        if self.label_sldc:
            headers.append(("Content-Encoding", "SLDC"))
        headers += [
            ("Authorization", f"{scheme} {base64.b64encode(token or b'').decode()}"),
            ("User-Agent", USER_AGENT),
            ("Content-Length", "0"),
            ("Host", self.host_header),
        ]
        resp = self._http.request("POST", self.target, headers, b"")
        if resp.status != 200:
            self.close()
            raise AuthError(
                f"authentication POST to {self.url} answered {resp.status}",
            )
        reply = None
        for value in resp.header_values("WWW-Authenticate"):
            kind, _, b64 = value.partition(" ")
            if kind.lower() == scheme.lower() and b64.strip():
                reply = b64.strip()
        if reply is None:
            self.close()
            raise AuthError(f"no 'WWW-Authenticate: {scheme}' reply token from {self.url}")
        try:
            ctx.step(base64.b64decode(reply, validate=True))
        except (GSSError, ValueError) as err:
            self.close()
            raise AuthError(f"the collector's AP-REP does not verify: {err}") from err
        needed = (
            gssapi.RequirementFlag.mutual_authentication,
            gssapi.RequirementFlag.confidentiality,
            gssapi.RequirementFlag.integrity,
        )
        if not ctx.complete or any(f not in ctx.actual_flags for f in needed):
            self.close()
            raise AuthError("the Kerberos context is incomplete or lacks mutual/conf/integ")
        self._gss = ctx

    def _wrap(self, cleartext: bytes) -> tuple[bytes, bytes]:
        assert self._gss is not None
        iov = gss_raw.IOV(
            gss_raw.IOVBufferType.header, cleartext, gss_raw.IOVBufferType.padding, std_layout=False
        )
        try:
            gss_raw.wrap_iov(self._gss, iov, confidential=True)
        except GSSError as err:
            raise AuthError(f"wrap failed: {err}") from err
        return iov[0].value or b"", (iov[1].value or b"") + (iov[2].value or b"")

    def _unwrap(self, header: bytes, ciphertext: bytes) -> bytes:
        assert self._gss is not None
        iov = gss_raw.IOV((gss_raw.IOVBufferType.header, False, header), ciphertext, std_layout=False)
        try:
            gss_raw.unwrap_iov(self._gss, iov)
        except GSSError as err:
            raise AuthError(f"unwrap of the reply failed: {err}") from err
        return iov[1].value or b""

    def post(self, soap: bytes, compress: bool = False, label_sldc: bool = False) -> HttpResponse:
        """POST one SOAP message (UTF-16 bytes). ``compress`` SLDC-compresses it (and labels it);
        ``label_sldc`` alone labels an uncompressed body, as Windows does for the End after a
        SubscriptionEnd. The returned body is decrypted."""
        if not self.is_open:
            self.open()
        cleartext = sldc_compress(soap) if compress else soap
        headers = [("Connection", "Keep-Alive")]
        if self.security.mode == "plain":
            headers.append(("Content-Type", SOAP_CONTENT_TYPE))
            body = cleartext
        else:
            gss_header, ciphertext = self._wrap(cleartext)
            body = encode_multipart(self.protocol, gss_header, ciphertext, len(cleartext))
            headers.append(
                ("Content-Type", f'multipart/encrypted;protocol="{self.protocol}";boundary="{BOUNDARY}"')
            )
        if compress or label_sldc:
            headers.append(("Content-Encoding", "SLDC"))
        headers += [
            ("User-Agent", USER_AGENT),
            ("Content-Length", str(len(body))),
            ("Host", self.host_header),
        ]
        resp = self._http.request("POST", self.target, headers, body)
        if not resp.body or self.security.mode == "plain":
            return resp
        ctype = resp.header("Content-Type") or ""
        if not ctype.lower().startswith("multipart/encrypted"):
            return resp
        header, ciphertext, _ = decode_multipart(resp.body)
        return HttpResponse(resp.status, resp.reason, resp.headers, self._unwrap(header, ciphertext))
