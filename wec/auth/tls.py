# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS with mutual certificate authentication: the second :class:`~wec.auth.session.Session`.

What this module knows (docs/tls.md is the operator's side of it):

* **The server credentials** (:func:`load_credentials`): a PEM bundle of one or more CAs that
  sign the sources' certificates, the collector's certificate and its unencrypted private key
  (PKCS#1, PKCS#8 or SEC1), an optional CRL file. They become one ``ssl.SSLContext`` that
  demands a client certificate, speaks TLS 1.2 and 1.3 only, and offers in TLS 1.2 only the
  ECDHE + AES-GCM suites that every supported Windows release proposes.
* **Each CA's SHA-1 thumbprint**, keyed by the CA's subject common name. A source's
  Enumerate response names the CA that issued *its* certificate (MS-WSMV §3.1.4.1.30.3), found
  through the issuer CN of the leaf; two CAs sharing a CN would make that ambiguous, so the
  configuration is refused.
* **The client identity**: the first subject CN of the verified leaf (the machine FQDN).
* **The session** (:class:`TlsSession`): the channel already protects the bodies, so they pass
  through as ``application/soap+xml;charset=UTF-16``.

Only the standard library is used: the verified peer certificate and the loaded CAs are
decoded by ``ssl`` itself, and the thumbprints are hashes of their DER.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from wec.auth.errors import DecryptError

__all__ = [
    "SOAP_CONTENT_TYPE",
    "TLS12_CIPHERS",
    "ClientIdentity",
    "TlsConfigError",
    "TlsCredentials",
    "TlsSession",
    "client_identity",
    "load_credentials",
    "thumbprint",
]

log = logging.getLogger("wec.auth.tls")

SOAP_CONTENT_TYPE: Final = "application/soap+xml;charset=UTF-16"

# TLS 1.2 suites (OpenSSL names). Windows 10/11 and Server 2016-2025 all offer these; Server
# 2012 R2 offers only the ECDSA pair, hence ECDSA first. TLS 1.3 suites are all AEAD and are
# left to OpenSSL's defaults.
TLS12_CIPHERS: Final = ":".join(
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256",
    )
)

_PEM_CERT: Final = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_PEM_KEY: Final = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----")


class TlsConfigError(ValueError):
    """The TLS files of a collector cannot be used (the message names the file and why)."""


def thumbprint(der: bytes) -> str:
    """The SHA-1 thumbprint of a DER certificate, 40 upper-case hex digits (as Windows shows
    it in the certificate MMC and expects it in ``IssuerCA=``)."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def _first_cn(name: Any) -> str | None:
    """The first commonName of a name as ``ssl`` decodes it (a tuple of RDNs of pairs)."""
    for rdn in name or ():
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


@dataclass(frozen=True)
class ClientIdentity:
    """What a verified client certificate says about its owner."""

    common_name: str | None  # None: the subject has no CN at all
    issuer_common_name: str | None


def client_identity(decoded: Mapping[str, Any]) -> ClientIdentity:
    """The identity of a verified peer certificate (``SSLSocket.getpeercert()``'s dict)."""
    return ClientIdentity(_first_cn(decoded.get("subject")), _first_cn(decoded.get("issuer")))


@dataclass(frozen=True)
class TlsCredentials:
    """One loaded configuration: the server context and the CA thumbprints that go with it.

    A connection keeps the credentials it was accepted with, so a reload (SIGHUP) swaps this
    object for new connections while the established ones go on undisturbed.
    """

    context: ssl.SSLContext
    thumbprints: Mapping[str, str]  # CA subject CN → SHA-1 thumbprint
    server_certificate: str
    crl_file: str | None = None
    ca_subjects: tuple[str, ...] = field(default=())

    def issuer_thumbprint(self, identity: ClientIdentity) -> str | None:
        """The thumbprint of the configured CA that issued this client's certificate."""
        if identity.issuer_common_name is None:
            return None
        return self.thumbprints.get(identity.issuer_common_name)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise TlsConfigError(f"cannot read the {what} {path!r}: {err.strerror or err}") from err


def _ca_thumbprints(context: ssl.SSLContext, path: str) -> dict[str, str]:
    """CA subject CN → thumbprint of every CA loaded into ``context``; a CN shared by two
    different CAs is refused (the Policy could not tell which one issued a source's
    certificate)."""
    decoded = context.get_ca_certs()
    ders = context.get_ca_certs(binary_form=True)
    out: dict[str, str] = {}
    for info, der in zip(decoded, ders, strict=True):
        cn = _first_cn(info.get("subject"))
        if cn is None:
            raise TlsConfigError(f"{path}: a CA certificate has no subject CN")
        tp = thumbprint(der)
        known = out.get(cn)
        if known is not None and known != tp:
            raise TlsConfigError(
                f"{path}: two CA certificates with the same subject CN {cn!r} ({known}, {tp})"
            )
        out[cn] = tp
    return out


def _no_password() -> str:
    raise TlsConfigError("encrypted private keys are not supported")


def load_credentials(
    ca_certificate: str,
    server_certificate: str,
    server_private_key: str,
    crl_file: str | None = None,
) -> TlsCredentials:
    """Build the server side of mutual TLS from the collector's files; every problem is a
    :class:`TlsConfigError` naming the file."""
    ca_pem = _read(ca_certificate, "CA certificate file")
    cas = _PEM_CERT.findall(ca_pem)
    if not cas:
        raise TlsConfigError(f"{ca_certificate}: no PEM certificate found (at least one CA is needed)")
    key_pem = _read(server_private_key, "server private key")
    kinds = _PEM_KEY.findall(key_pem)
    if not kinds:
        raise TlsConfigError(
            f"{server_private_key}: no PEM private key found (PKCS#1, PKCS#8 or SEC1 expected)"
        )
    if kinds[0] == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in key_pem:
        raise TlsConfigError(
            f"{server_private_key}: the private key is encrypted; wec needs it unencrypted "
            "(openssl pkey -in KEY -out KEY.plain), readable by the wec user only"
        )
    _read(server_certificate, "server certificate")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    # Windows sends its leaf only; a configured intermediate CA must be able to anchor the
    # chain on its own, as it does in OpenWEC.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.set_alpn_protocols(["http/1.1"])
    # No session tickets: a resumed session skips the certificate checks, and a ticket outlives
    # a reload that removed a CA or added a CRL. Sources reconnect rarely; full handshakes are
    # cheap at that rate.
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    try:
        ctx.load_verify_locations(cadata=b"\n".join(cas).decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
        raise TlsConfigError(f"{ca_certificate}: invalid CA certificate: {err}") from err
    try:
        ctx.load_cert_chain(server_certificate, server_private_key, password=_no_password)
    except ssl.SSLError as err:
        reason = getattr(err, "reason", None) or str(err)
        if reason == "KEY_VALUES_MISMATCH":
            reason = "the private key does not belong to the certificate"
        raise TlsConfigError(
            f"cannot use server certificate {server_certificate} with key {server_private_key}: {reason}"
        ) from err
    if crl_file is not None:
        crl = _read(crl_file, "CRL file")
        if b"-----BEGIN X509 CRL-----" not in crl:
            raise TlsConfigError(f"{crl_file}: no PEM CRL found")
        try:
            ctx.load_verify_locations(cafile=crl_file)
        except ssl.SSLError as err:
            raise TlsConfigError(f"{crl_file}: invalid CRL: {err}") from err
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    thumbprints = _ca_thumbprints(ctx, ca_certificate)
    if len(thumbprints) < len(cas):
        log.warning("%s: duplicate CA certificates ignored", ca_certificate)
    return TlsCredentials(
        context=ctx,
        thumbprints=thumbprints,
        server_certificate=server_certificate,
        crl_file=crl_file,
        ca_subjects=tuple(sorted(thumbprints)),
    )


class TlsSession:
    """One HTTPS connection authenticated by its client certificate (the TLS implementation
    of :class:`wec.auth.session.Session`).

    ``principal`` is the certificate's subject CN, ``issuer_thumbprint`` the SHA-1 of the
    configured CA that issued it (the Enumerate response's Policy names it).
    """

    url_scheme = "https"

    def __init__(self, principal: str, issuer_thumbprint: str) -> None:
        self.principal = principal
        self.issuer_thumbprint: str | None = issuer_thumbprint

    def __repr__(self) -> str:
        return f"<TlsSession {self.principal} (issuer {self.issuer_thumbprint})>"

    def decrypt_request(self, content_type: str, body: bytes) -> bytes:
        """The body as sent: TLS protected it on the wire. A ``multipart/encrypted`` body is a
        client configured for Kerberos talking to the HTTPS port: refused."""
        if content_type.strip().lower().startswith("multipart/"):
            raise DecryptError(f"a {content_type.split(';')[0]} body on a TLS connection")
        return body

    def encrypt_response(self, plaintext: bytes) -> tuple[str, bytes]:
        return SOAP_CONTENT_TYPE, plaintext

    def close(self) -> None:
        return None
