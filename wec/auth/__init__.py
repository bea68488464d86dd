# SPDX-License-Identifier: GPL-3.0-or-later
"""Authentication and session encryption for the collector (PROTOCOL.md §4).

``multipart`` frames encrypted bodies (pure bytes), ``kerberos`` accepts Kerberos/Negotiate
tokens and wraps/unwraps bodies per connection. The transport maps ``AuthError`` → 401,
``DecryptError`` → 400; ``KerberosConfigError`` stops the collector at start-up.
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
    "build_encrypted",
    "parse_encrypted",
]
