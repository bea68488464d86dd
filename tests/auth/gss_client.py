# SPDX-License-Identifier: GPL-3.0-or-later
"""A Windows-like Kerberos initiator for the auth tests (python-gssapi, client keytab, no kinit).

It plays the source: raw krb5 (``Authorization: Kerberos``, what Windows sends) or SPNEGO
(``Negotiate``), mutual authentication, and the WinRM IOV framing for bodies.
"""

from __future__ import annotations

import base64
import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gssapi
import gssapi.raw
from gssapi.raw import IOV, IOVBufferType

from tests.support.kdc import Kdc
from wec.auth import KerberosAcceptor, KerberosSession, build_encrypted, parse_encrypted

F = gssapi.RequirementFlag
KRB5 = gssapi.MechType.kerberos
SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
# What a WinRM source asks for (docs/protocol.md §4.1: mutual-required, sealing).
WINDOWS_FLAGS = (F.mutual_authentication, F.confidentiality, F.integrity)
CLIENT = "WIN10$@WEC.TEST"


@contextlib.contextmanager
def using_kdc(kdc: Kdc) -> Iterator[None]:
    """Point this process's krb5 library at ``kdc`` for the duration of the block."""
    saved = {key: os.environ.get(key) for key in kdc.env}
    os.environ.update(kdc.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def client_creds(kdc: Kdc, client: str = CLIENT) -> gssapi.Credentials:
    # A fresh MEMORY ccache per call: tickets must never leak between tests or KDCs.
    return gssapi.Credentials(
        name=gssapi.Name(client, gssapi.NameType.kerberos_principal),
        usage="initiate",
        store={"client_keytab": str(kdc.client_keytabs[client]), "ccache": f"MEMORY:{uuid.uuid4().hex}"},
    )


def initiate(
    kdc: Kdc,
    *,
    mech: gssapi.OID = KRB5,
    flags: Sequence[gssapi.RequirementFlag] = WINDOWS_FLAGS,
    client: str = CLIENT,
    target: str = "HTTP@wec.test.local",
) -> tuple[gssapi.SecurityContext, bytes]:
    """Start a client context; return it and its first token (the AP-REQ)."""
    with using_kdc(kdc):
        ctx = gssapi.SecurityContext(
            name=gssapi.Name(target, gssapi.NameType.hostbased_service),
            creds=client_creds(kdc, client),
            usage="initiate",
            mech=mech,
            flags=sum(int(f) for f in flags),
        )
        token = ctx.step()
    assert token is not None
    return ctx, token


def authorization(scheme: str, token: bytes) -> str:
    return f"{scheme} {base64.b64encode(token).decode()}"


@dataclass
class Handshake:
    """Both ends of one authenticated connection."""

    client: gssapi.SecurityContext
    session: KerberosSession
    www_authenticate: str


def handshake(
    kdc: Kdc, acceptor: KerberosAcceptor, *, scheme: str = "Kerberos", **kwargs: object
) -> Handshake:
    mech = KRB5 if scheme == "Kerberos" else SPNEGO
    client, token = initiate(kdc, mech=mech, **kwargs)  # type: ignore[arg-type]
    result = acceptor.accept(authorization(scheme, token))
    reply_scheme, _, reply = result.www_authenticate.partition(" ")
    assert reply_scheme == scheme
    client.step(base64.b64decode(reply))
    assert client.complete
    return Handshake(client=client, session=result.session, www_authenticate=result.www_authenticate)


def client_wrap(
    client: gssapi.SecurityContext, plaintext: bytes, *, confidential: bool = True
) -> tuple[bytes, bytes]:
    """What a WinRM source does: HEADER, DATA, PADDING and no TRAILER (docs/protocol.md §4.3)."""
    iov = IOV(IOVBufferType.header, plaintext, IOVBufferType.padding, std_layout=False)
    gssapi.raw.wrap_iov(client, iov, confidential=confidential)
    return iov[0].value or b"", (iov[1].value or b"") + (iov[2].value or b"")


def client_unwrap(client: gssapi.SecurityContext, header: bytes, data: bytes) -> bytes:
    iov = IOV((IOVBufferType.header, False, header), data, std_layout=False)
    result = gssapi.raw.unwrap_iov(client, iov)
    assert result.encrypted
    return iov[1].value or b""


def client_request(client: gssapi.SecurityContext, plaintext: bytes, protocol: str) -> tuple[str, bytes]:
    header, data = client_wrap(client, plaintext)
    return build_encrypted(protocol, header, data, original_length=len(plaintext))


def client_read_response(client: gssapi.SecurityContext, content_type: str, body: bytes) -> bytes:
    parsed = parse_encrypted(content_type, body)
    plaintext = client_unwrap(client, parsed.header, parsed.data)
    assert parsed.original_length == len(plaintext)
    return plaintext
