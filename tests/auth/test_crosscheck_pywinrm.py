# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-check against independent clients: pyspnego (GSS) and pywinrm (multipart framing).

pywinrm's ``Encryption`` expects ``session.auth`` to offer ``wrap_winrm``/``unwrap_winrm``
(its vendored requests-kerberos needs pykerberos); a small adapter backs them with a pyspnego
Kerberos context, which obtains its ticket from the client keytab (``KRB5_CLIENT_KTNAME``).
"""

from __future__ import annotations

import base64
import struct
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.kdc import Kdc
from wec.auth import (
    SPNEGO_PROTOCOL,
    KerberosAcceptor,
    KerberosSession,
    parse_encrypted,
)

spnego = pytest.importorskip("spnego")
winrm_encryption = pytest.importorskip("winrm.encryption")
requests = pytest.importorskip("requests")

ENDPOINT = "http://wec.test.local:5985/wsman/SubscriptionManager/WEC"
MESSAGE = "<s:Envelope>Enumerate é</s:Envelope>".encode()


class PyspnegoAuth:
    """The two methods pywinrm's Encryption calls on ``session.auth`` for Kerberos."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def wrap_winrm(self, host: str, message: bytes) -> tuple[bytes, bytes]:
        result = self.context.wrap_winrm(message)
        return result.data, result.header

    def unwrap_winrm(self, host: str, message: bytes, header: bytes) -> bytes:
        return bytes(self.context.unwrap_winrm(header, message))


def pyspnego_handshake(
    kdc: Kdc, acceptor: KerberosAcceptor, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> tuple[Any, KerberosSession]:
    monkeypatch.setenv("KRB5_CLIENT_KTNAME", str(kdc.client_keytabs["WIN10$@WEC.TEST"]))
    monkeypatch.setenv("KRB5CCNAME", f"MEMORY:{uuid.uuid4().hex}")
    client = spnego.client("WIN10$@WEC.TEST", hostname="wec.test.local", service="HTTP", protocol=protocol)
    token = client.step()
    # pywinrm always says "Negotiate", whatever the mechanism (docs/protocol.md §4.1).
    result = acceptor.accept(f"Negotiate {base64.b64encode(token).decode()}")
    client.step(base64.b64decode(result.www_authenticate.split(" ", 1)[1]))
    assert client.complete
    return client, result.session


@pytest.mark.parametrize("protocol", ["kerberos", "negotiate"])
def test_pywinrm_request_unwraps_and_our_response_decrypts_in_pyspnego(
    kdc: Kdc, acceptor: KerberosAcceptor, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    client, session = pyspnego_handshake(kdc, acceptor, monkeypatch, protocol)
    assert session.principal == "WIN10$@WEC.TEST"
    encryption = winrm_encryption.Encryption(SimpleNamespace(auth=PyspnegoAuth(client)), "kerberos")

    for i in range(3):  # several messages: sequence numbers advance on both sides
        message = MESSAGE * (i + 1)
        prepared = encryption.prepare_encrypted_request(requests.Session(), ENDPOINT, message)
        body = parse_encrypted(prepared.headers["Content-Type"], prepared.body)
        assert body.protocol == SPNEGO_PROTOCOL
        assert body.original_type == "application/soap+xml;charset=UTF-8"
        assert session.unwrap(body) == message

        content_type, response = session.encrypt_response(message[::-1])
        parsed = parse_encrypted(content_type, response)
        assert client.unwrap_winrm(parsed.header, parsed.data) == message[::-1]


def test_pywinrm_decrypts_our_gss_payload(
    kdc: Kdc, acceptor: KerberosAcceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pywinrm's own decryption routine accepts our token header + ciphertext.

    Its MIME splitter only recognises MS-WSMV's tab-indented part headers, while we (like a
    Windows collector) write them flush left, so the check starts after the framing.
    """
    client, session = pyspnego_handshake(kdc, acceptor, monkeypatch, "kerberos")
    encryption = winrm_encryption.Encryption(SimpleNamespace(auth=PyspnegoAuth(client)), "kerberos")
    header, data = session.wrap(MESSAGE)
    framed = struct.pack("<i", len(header)) + header + data
    assert encryption._decrypt_message(framed, "wec.test.local") == MESSAGE
