# SPDX-License-Identifier: GPL-3.0-or-later
"""Kerberos acceptor and per-connection session encryption (docs/protocol.md §4).

Theory of operation.

* One :class:`KerberosAcceptor` per collector loads the service credentials from the keytab
  at start-up, so that a bad keytab stops the collector instead of failing every request.
* The first request on a TCP connection carries ``Authorization: Kerberos <AP-REQ>`` (raw
  krb5, Windows) or ``Negotiate <SPNEGO>``. :meth:`KerberosAcceptor.accept` runs exactly one
  ``gss_accept_sec_context`` step, which must complete with CONF, INTEG and MUTUAL; the AP-REP
  goes back in ``WWW-Authenticate`` on that request's 200.
* The resulting :class:`KerberosSession` belongs to that connection (Windows never
  re-authenticates on it) and decrypts/encrypts every later body
  (:meth:`~KerberosSession.decrypt_request`, :meth:`~KerberosSession.encrypt_response`: the
  :class:`wec.auth.session.Session` seam the transport uses). GSS per-message tokens carry
  sequence numbers, so calls are serialised by a lock and must happen in the wire order.

Replays. MIT only detects replayed wrap tokens when the initiator asked for replay or
sequence detection, which nothing obliges a client to do. The session therefore also tracks
the RFC 4121 sequence number of the inbound tokens itself and refuses any token whose number
is not greater than the last one accepted (a connection is an ordered stream: a lower or
equal number can only be a replay or a reordering attack).

Nothing here knows about SOAP: bodies are opaque bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Container
from dataclasses import dataclass

import gssapi
import gssapi.exceptions
import gssapi.raw
from gssapi.raw import IOV, IOVBufferType

from wec.auth import cfx
from wec.auth.errors import AuthError, DecryptError, KerberosConfigError
from wec.auth.multipart import (
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    EncryptedBody,
    build_encrypted,
    parse_encrypted,
)
from wec.principals import is_anonymous, is_machine_account, service_host_of

__all__ = [
    "WWW_AUTHENTICATE_CHALLENGES",
    "AcceptResult",
    "KerberosAcceptor",
    "KerberosSession",
    "check_initiator",
    "default_keytab_text",
]

# The bare challenges of a 401: Kerberos collectors send both headers (docs/protocol.md §2.5).
WWW_AUTHENTICATE_CHALLENGES = ("Kerberos", "Negotiate")

# Scheme (lower case) → (canonical spelling, multipart label used in our responses).
_SCHEMES = {
    "kerberos": ("Kerberos", KERBEROS_PROTOCOL),
    "negotiate": ("Negotiate", SPNEGO_PROTOCOL),
}
# Kerberos 5 (RFC 4121) and the legacy Microsoft OID for it; SPNEGO must resolve to one of them.
_KRB5_MECHS = (
    gssapi.OID.from_int_seq("1.2.840.113554.1.2.2"),
    gssapi.OID.from_int_seq("1.2.840.48018.1.2.2"),
)
_REQUIRED_FLAGS = (
    gssapi.RequirementFlag.confidentiality,
    gssapi.RequirementFlag.integrity,
    gssapi.RequirementFlag.mutual_authentication,
)
_NTLMSSP = b"NTLMSSP\x00"
_GSS_ERRORS = (gssapi.raw.GSSError, gssapi.exceptions.GeneralError)

# GSS_C_INQ_SSPI_SESSION_KEY: the context's current key, then the OID of its enctype
# (GSS_KRB5_SESSION_KEY_ENCTYPE_OID, 1.2.840.113554.1.2.2.4, followed by the enctype number).
_INQ_SESSION_KEY = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2.5.5")
_ENCTYPE_OID_PREFIX = bytes.fromhex("2a864886f71201020204")


def _fast_unwrap_keys(context: gssapi.SecurityContext) -> cfx.WrapKeys | None:
    """Keys for :func:`wec.auth.cfx.unwrap`, or None when the context's enctype is not one it
    reads (GSSAPI then unwraps every message)."""
    try:
        key, enctype_oid = gssapi.raw.inquire_sec_context_by_oid(context, _INQ_SESSION_KEY)[:2]
    except (*_GSS_ERRORS, ValueError, TypeError):
        return None
    if not enctype_oid.startswith(_ENCTYPE_OID_PREFIX):
        return None
    enctype = 0
    for byte in enctype_oid[len(_ENCTYPE_OID_PREFIX) :]:  # one base-128 arc
        enctype = (enctype << 7) | (byte & 0x7F)
    if cfx.AES_SHA1_ENCTYPES.get(enctype) != len(key):
        return None
    return cfx.derive_wrap_keys(key)


@dataclass(frozen=True)
class AcceptResult:
    """The outcome of a successful handshake."""

    session: KerberosSession  # keep it for the lifetime of the TCP connection
    www_authenticate: str  # value of the WWW-Authenticate header on the 200, e.g. "Kerberos <b64>"


class KerberosAcceptor:
    """The collector's Kerberos service credentials; creates one session per connection.

    ``keytab``: a keytab path (or ``FILE:``/``MEMORY:`` name); ``None`` uses the process default
    (``KRB5_KTNAME``, else ``/etc/krb5.keytab``).
    ``service_principal_name``: accept only tickets for this SPN, given either as a Kerberos
    principal (``HTTP/wec.example.local`` or ``HTTP/wec.example.local@REALM``) or in GSS
    host-based form (``HTTP@wec.example.local``). ``None`` accepts a ticket for the principals
    in the keytab whose name is ``HTTP/<h>`` or ``HOST/<h>`` for one of ``hostnames``, which lets
    ``HTTP/`` (most Windows) and ``HOST/`` (Windows Server 2025) share one port
    (docs/kerberos.md); with no ``hostnames`` either, any principal of the keytab (OpenWEC's
    behaviour, which lets a keytab shared with other services be used against wec).

    ``machine_accounts_only``: accept only computer accounts (``HOST$@REALM``). Anonymous
    tickets (RFC 8062) are always refused: they authenticate nobody.

    Raises :class:`KerberosConfigError` if the credentials cannot be loaded.
    """

    def __init__(
        self,
        keytab: str | None,
        service_principal_name: str | None,
        *,
        hostnames: tuple[str, ...] = (),
        machine_accounts_only: bool = False,
    ) -> None:
        self.keytab = keytab
        self.service_principal_name = service_principal_name
        self.machine_accounts_only = machine_accounts_only
        # The ticket targets accepted when no SPN is configured: (service, host) case-folded.
        self.allowed_targets: frozenset[tuple[str, str]] = frozenset(
            (service, h.casefold().rstrip("."))
            for h in hostnames
            if not service_principal_name
            for service in ("http", "host")
        )
        if keytab is not None:
            _check_keytab_file(keytab)
        store: dict[bytes | str, bytes | str] | None = {"keytab": keytab} if keytab is not None else None
        try:
            name = _service_name(service_principal_name) if service_principal_name else None
            self._creds = gssapi.Credentials(name=name, usage="accept", store=store)
        except _GSS_ERRORS as err:
            where = keytab if keytab is not None else f"the system keytab ({default_keytab_text()})"
            who = service_principal_name or "any principal"
            raise KerberosConfigError(
                f"cannot load Kerberos acceptor credentials for {who} from {where}: {err}"
                + _realm_note(service_principal_name)
            ) from err

    def accept(self, authorization: str) -> AcceptResult:
        """Authenticate one ``Authorization`` header value; raise :class:`AuthError` on failure."""
        scheme_word, _, b64 = authorization.strip().partition(" ")
        known = _SCHEMES.get(scheme_word.lower())
        if known is None:
            raise AuthError(f"unsupported authorization scheme {scheme_word[:32]!r}")
        scheme, protocol = known
        try:
            token = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError) as err:
            raise AuthError(f"{scheme}: the token is not valid base64") from err
        if not token:
            raise AuthError(f"{scheme}: empty token")
        if token.startswith(_NTLMSSP):
            raise AuthError(f"{scheme}: NTLM is not supported (it needs several rounds; use Kerberos)")

        context = gssapi.SecurityContext(creds=self._creds, usage="accept")
        try:
            out_token = context.step(token)
            complete = context.complete
        except _GSS_ERRORS as err:
            raise AuthError(f"{scheme}: the token was rejected: {err}") from err
        if not complete:
            # NTLM wrapped in SPNEGO, or a SPNEGO mech-list mismatch: a second round trip
            # would be needed, and WinRM sources never do one (docs/protocol.md §4).
            raise AuthError(f"{scheme}: the handshake needs more than one round (not Kerberos?)")
        try:
            mech = context.mech
            flags = context.actual_flags
            principal = str(context.initiator_name)
            target = str(context.target_name)
        except _GSS_ERRORS as err:  # pragma: no cover - a completed context always answers
            raise AuthError(f"{scheme}: cannot inspect the security context: {err}") from err
        if mech not in _KRB5_MECHS:
            raise AuthError(f"{scheme}: negotiated mechanism {mech} is not Kerberos 5")
        missing = [f.name for f in _REQUIRED_FLAGS if f not in flags]
        if missing:
            raise AuthError(f"{scheme}: the initiator did not request {', '.join(str(m) for m in missing)}")
        if not out_token:  # pragma: no cover - MUTUAL guarantees an AP-REP
            raise AuthError(f"{scheme}: no reply token for mutual authentication")
        check_initiator(principal, flags, machine_accounts_only=self.machine_accounts_only)
        if self.allowed_targets and service_host_of(target) not in self.allowed_targets:
            # Any principal of the keytab would decrypt the ticket: without this check a
            # keytab shared with other services (cifs/, ldap/…) would let tickets meant for
            # them authenticate here.
            raise AuthError(f"{scheme}: ticket for {target}, not for an SPN of this collector's hostname")

        session = KerberosSession(
            context, principal=principal, target=target, scheme=scheme, protocol=protocol
        )
        return AcceptResult(
            session=session, www_authenticate=f"{scheme} {base64.b64encode(out_token).decode()}"
        )


class KerberosSession:
    """The security context of one authenticated TCP connection: the Kerberos implementation
    of :class:`wec.auth.session.Session`.

    ``principal`` is the authenticated source (``WIN10$@WINDOMAIN.LOCAL``), ``target`` the
    service principal it asked for, ``scheme`` ``"Kerberos"`` or ``"Negotiate"``, and
    ``protocol`` the multipart label our responses use (either label is accepted on input).

    Bodies must be unwrapped in the order they arrive: a body read but never unwrapped leaves
    a gap in the sequence numbers, which MIT refuses when the initiator asked for sequence
    detection. The transport should close the connection if it rejects a body unread.
    """

    # What the Enumerate response offers on a Kerberos connection (the Session seam).
    url_scheme = "http"
    issuer_thumbprint: str | None = None

    def __init__(
        self, context: gssapi.SecurityContext, *, principal: str, target: str, scheme: str, protocol: str
    ) -> None:
        self.principal = principal
        self.target = target
        self.scheme = scheme
        self.protocol = protocol
        self._context = context
        self._lock = threading.Lock()
        self._last_seq: int | None = None
        self._closed = False
        # Requests are decrypted with OpenSSL when the enctype allows (wec.auth.cfx), else
        # by GSSAPI; any token the fast path does not verify goes to GSSAPI too.
        self._fast_keys = _fast_unwrap_keys(context)

    def __repr__(self) -> str:
        return f"<KerberosSession {self.principal} → {self.target} ({self.scheme})>"

    def decrypt_request(self, content_type: str, body: bytes) -> bytes:
        """The cleartext of one ``multipart/encrypted`` request body (the :class:`Session`
        seam); raise :class:`DecryptError` for a plaintext or a malformed body too."""
        if not content_type.lower().startswith("multipart/encrypted"):
            raise DecryptError(f"plaintext body on a Kerberos collector ({content_type or 'no type'})")
        return self.unwrap(parse_encrypted(content_type, body))

    def unwrap(self, body: EncryptedBody) -> bytes:
        """Decrypt one parsed body; raise :class:`DecryptError` on any failure."""
        seq = _inbound_sequence_number(body.header)
        with self._lock:
            if self._closed:
                raise DecryptError("the session is closed")
            if seq is not None and self._last_seq is not None and seq <= self._last_seq:
                raise DecryptError(f"replayed or reordered message (sequence {seq} after {self._last_seq})")
            fast = cfx.unwrap_parts(self._fast_keys, body.header, body.data) if self._fast_keys else None
            plaintext = fast if fast is not None else self._gss_unwrap(body)
            if seq is not None:
                self._last_seq = seq
        if body.original_length is not None and len(plaintext) != body.original_length:
            raise DecryptError(
                f"decrypted length {len(plaintext)} differs from OriginalContent Length "
                f"{body.original_length}"
            )
        return plaintext

    def _gss_unwrap(self, body: EncryptedBody) -> bytes:
        # Windows' framing: HEADER holds the token header plus the rotated (RRC) trailer,
        # DATA the ciphertext (docs/protocol.md §4.3); MIT undoes the rotation itself.
        iov = IOV((IOVBufferType.header, False, body.header), body.data, std_layout=False)
        try:
            result = gssapi.raw.unwrap_iov(self._context, iov)
        except _GSS_ERRORS as err:
            raise DecryptError(f"cannot decrypt the message: {err}") from err
        if not result.encrypted:
            raise DecryptError("the message was signed but not encrypted (confidentiality required)")
        return iov[1].value or b""

    def wrap(self, plaintext: bytes) -> tuple[bytes, bytes]:
        """Encrypt a response; return ``(token header, ciphertext ‖ padding)``.

        No TRAILER buffer: MIT then folds the trailer into the header (RRC), which is the
        layout Windows expects. The header length depends on the enctype (60 for AES256).
        """
        iov = IOV(IOVBufferType.header, plaintext, IOVBufferType.padding, std_layout=False)
        with self._lock:
            try:
                confidential = gssapi.raw.wrap_iov(self._context, iov, confidential=True)
            except _GSS_ERRORS as err:
                raise DecryptError(f"cannot encrypt the response: {err}") from err
        if not confidential:  # pragma: no cover - CONF was checked at accept time
            raise DecryptError("the security context cannot encrypt")
        return iov[0].value or b"", (iov[1].value or b"") + (iov[2].value or b"")

    def encrypt_response(self, plaintext: bytes) -> tuple[str, bytes]:
        """Wrap and frame a response body: ``(Content-Type, body)``."""
        header, data = self.wrap(plaintext)
        return build_encrypted(self.protocol, header, data, original_length=len(plaintext))

    def close(self) -> None:
        """The connection is gone: refuse any later request body. A response to a body already
        decrypted can still be encrypted; the GSS context is freed with this object
        (python-gssapi deletes it on garbage collection)."""
        with self._lock:
            self._closed = True


def check_initiator(
    principal: str, flags: Container[gssapi.RequirementFlag], *, machine_accounts_only: bool
) -> None:
    """Refuse an anonymous initiator always, and a non-computer one when asked to.

    ``flags`` are the context's actual flags (a set of :class:`gssapi.RequirementFlag`): MIT
    sets ``anonymity`` for a ticket obtained with anonymous PKINIT, whose client is
    ``WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS`` (RFC 8062); either sign is enough.
    """
    if is_anonymous(principal) or gssapi.RequirementFlag.anonymity in flags:
        raise AuthError(f"anonymous ticket refused ({principal})")
    if machine_accounts_only and not is_machine_account(principal):
        raise AuthError(
            f"{principal} is not a computer account (kerberos_machine_accounts_only = true accepts "
            "only principals ending in $)"
        )


def _service_name(spn: str) -> gssapi.Name:
    # "HTTP/host[@REALM]" is a Kerberos principal; "HTTP@host" is the GSS host-based form.
    name_type = gssapi.NameType.kerberos_principal if "/" in spn else gssapi.NameType.hostbased_service
    return gssapi.Name(spn, name_type)


def default_keytab_text() -> str:
    """Where MIT looks when ``server.keytab`` is unset, for messages (docs/kerberos.md)."""
    env = os.environ.get("KRB5_KTNAME")
    if env:
        return f"KRB5_KTNAME={env}"
    return "krb5.conf's default_keytab_name, else /etc/krb5.keytab"


def _realm_note(spn: str | None) -> str:
    """A principal without ``@REALM`` takes krb5.conf's default realm: name it, since Debian's
    stock krb5.conf says ATHENA.MIT.EDU and the resulting error names a principal nobody wrote."""
    if not spn or "@" in spn or "/" not in spn:
        return ""
    conf = os.environ.get("KRB5_CONFIG") or "/etc/krb5.conf"
    try:
        full = str(_service_name(spn).canonicalize(gssapi.MechType.kerberos))
    except _GSS_ERRORS:
        return f" ({spn!r} has no realm and {conf} gives no default_realm: add @REALM)"
    realm = full.rpartition("@")[2]
    return (
        f" ({spn!r} has no realm, so it was read as {full}: {realm} is default_realm in {conf}"
        " [libdefaults]; write the realm in service_principal_name or fix default_realm)"
    )


# RFC-less but stable: a file keytab starts with 0x05 then the format version 0x01 or 0x02.
_KEYTAB_MAGIC = (b"\x05\x01", b"\x05\x02")


def _check_keytab_file(keytab: str) -> None:
    """Fail early and clearly for a file keytab that is missing, unreadable, empty or not a
    keytab (MIT would say only "Unsupported key table format version number")."""
    kind, colon, rest = keytab.partition(":")
    if colon and kind.upper() not in ("FILE", "WRFILE") and "/" not in kind:
        return  # MEMORY:, KEYRING: etc.: let GSSAPI judge
    path = rest if colon and "/" not in kind else keytab
    if not os.path.isfile(path):
        raise KerberosConfigError(f"keytab {path!r} does not exist")
    if not os.access(path, os.R_OK):
        raise KerberosConfigError(f"keytab {path!r} is not readable by this process")
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as err:
        raise KerberosConfigError(f"keytab {path!r} cannot be read: {err}") from err
    if not head:
        raise KerberosConfigError(
            f"keytab {path!r} is empty: export the service keys into it again (docs/kerberos.md)"
        )
    if head not in _KEYTAB_MAGIC:
        raise KerberosConfigError(
            f"keytab {path!r} is not a keytab file (it starts with {head.hex()}, a keytab with 0502): "
            "was it copied as text, base64 or with a transfer that altered it? Export it again"
        )


def _inbound_sequence_number(header: bytes) -> int | None:
    """The SND_SEQ of an RFC 4121 wrap token sent by the initiator, or ``None`` for other tokens.

    A CFX token claiming to come from the acceptor is a reflected copy of one of our own
    responses: refuse it here (MIT would too) so that it cannot advance the replay window.
    """
    if len(header) < cfx.TOKEN_HEADER_LEN or header[:2] != cfx.WRAP_TOK_ID:
        return None  # RC4-HMAC (RFC 4757) encrypts its sequence number: leave it to GSSAPI
    flags = header[2]
    if flags & cfx.FLAG_SENT_BY_ACCEPTOR:
        raise DecryptError("the token was sent by the acceptor (reflected response)")
    if not flags & cfx.FLAG_SEALED:
        raise DecryptError("the message was signed but not encrypted (confidentiality required)")
    return int.from_bytes(header[8:16], "big")
