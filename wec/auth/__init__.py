# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication and session encryption for the collector (docs/protocol.md §4).

``session`` is the seam the transport talks to: a :class:`Session` decrypts each request body
and encrypts each response body of one connection, and names its client. ``kerberos`` is its
first implementation (one-round Kerberos/Negotiate accept, GSS wrap/unwrap per connection),
``multipart`` frames the encrypted bodies (pure bytes). The transport maps ``AuthError`` →
401, ``DecryptError`` → 400; ``KerberosConfigError`` stops the collector at start-up.
"""

from wec.auth.errors import AuthError, DecryptError, KerberosConfigError
from wec.auth.kerberos import WWW_AUTHENTICATE_CHALLENGES, AcceptResult, KerberosAcceptor, KerberosSession
from wec.auth.multipart import (
    KERBEROS_PROTOCOL,
    PROTOCOLS,
    SOAP_UTF16,
    SPNEGO_PROTOCOL,
    EncryptedBody,
    build_encrypted,
    parse_encrypted,
)
from wec.auth.session import Session

__all__ = [
    "KERBEROS_PROTOCOL",
    "PROTOCOLS",
    "SOAP_UTF16",
    "SPNEGO_PROTOCOL",
    "WWW_AUTHENTICATE_CHALLENGES",
    "AcceptResult",
    "AuthError",
    "DecryptError",
    "EncryptedBody",
    "KerberosAcceptor",
    "KerberosConfigError",
    "KerberosSession",
    "Session",
    "build_encrypted",
    "parse_encrypted",
]
