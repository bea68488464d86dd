# SPDX-License-Identifier: GPL-3.0-or-later
"""The security seam between the transport and an authentication mechanism.

The transport knows HTTP; a :class:`Session` knows how one authenticated connection protects
its bodies. The transport hands every request body to :meth:`Session.decrypt_request` and
every response body to :meth:`Session.encrypt_response`, and takes the client's identity from
:attr:`Session.principal`; it never looks inside the protection itself.

* Kerberos (:class:`wec.auth.kerberos.KerberosSession`): bodies travel as
  ``multipart/encrypted`` (MS-WSMV §2.2.9.1), wrapped with the GSS context of the connection;
  the principal is the ticket's client (``WIN10$@WINDOMAIN.LOCAL``).
* TLS (:class:`wec.auth.tls.TlsSession`): the channel already protects the bodies, so both
  methods pass them through (``application/soap+xml;charset=UTF-16`` each way); the principal
  is the client certificate's subject CN.

The session also tells what the Enumerate response must offer a source on this connection:
the scheme of its NotifyTo address (``url_scheme``) and, for TLS, the thumbprint of the CA that
issued the source's certificate (``issuer_thumbprint``, the Policy's ``Thumbprint``). The
service never asks which mechanism it is talking to.

Both directions of one connection go through the same object, so a mechanism with per-message
state (GSS sequence numbers) keeps it in one place. Failures are ``DecryptError`` (the
transport answers 400); nothing here knows about SOAP.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Session"]


class Session(Protocol):
    """The protection of one authenticated connection."""

    @property
    def principal(self) -> str:
        """The authenticated client identity (a Kerberos principal, a certificate subject)."""
        ...

    @property
    def url_scheme(self) -> str:
        """``http`` (Kerberos) or ``https`` (TLS): the scheme of the NotifyTo addresses."""
        ...

    @property
    def issuer_thumbprint(self) -> str | None:
        """TLS: the SHA-1 thumbprint of the CA that issued the client certificate."""
        ...

    def decrypt_request(self, content_type: str, body: bytes) -> bytes:
        """The cleartext of a request body sent with this ``Content-Type``.

        Raises :class:`wec.auth.errors.DecryptError` for a body this session cannot accept
        (wrong framing, forged, replayed, undecryptable, plaintext where encryption is due).
        """
        ...

    def encrypt_response(self, plaintext: bytes) -> tuple[str, bytes]:
        """A response body ready to send: ``(Content-Type, body)``."""
        ...

    def close(self) -> None:
        """The connection is gone: release what the session holds. Never raises."""
        ...
