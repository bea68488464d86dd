# SPDX-License-Identifier: GPL-3.0-or-later
"""Cross-check the running collector with an independent client stack: requests + pywinrm's
``Encryption`` (multipart framing) + pyspnego (the Kerberos context), none of it wec's code.

The heartbeat it sends is accepted (200, an Ack) and the encrypted Ack decrypts with pyspnego.
"""

from __future__ import annotations

import base64
import http.client as http_client
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.e2e.harness import SUBSCRIPTION_UUID, Collector
from wec.sim import soap
from wec.sim.sldc import compress

spnego = pytest.importorskip("spnego")
winrm_encryption = pytest.importorskip("winrm.encryption")
requests = pytest.importorskip("requests")

pytestmark = pytest.mark.e2e


class _PyspnegoAuth:
    """The two methods pywinrm's Encryption calls on ``session.auth``."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def wrap_winrm(self, host: str, message: bytes) -> tuple[bytes, bytes]:
        result = self.context.wrap_winrm(message)
        return result.data, result.header

    def unwrap_winrm(self, host: str, message: bytes, header: bytes) -> bytes:
        return bytes(self.context.unwrap_winrm(header, message))


@pytest.fixture
def running(collector: Collector) -> Iterator[Collector]:
    collector.start()
    yield collector


@pytest.mark.parametrize("protocol", ["kerberos", "negotiate"])
def test_pywinrm_and_pyspnego_client_is_accepted(
    running: Collector, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setenv("KRB5_CLIENT_KTNAME", str(running.kdc.client_keytabs["WIN10$@WEC.TEST"]))
    monkeypatch.setenv("KRB5CCNAME", f"MEMORY:{uuid.uuid4().hex}")
    client = spnego.client("WIN10$@WEC.TEST", hostname="wec.test.local", service="HTTP", protocol=protocol)
    path = f"/wsman/subscriptions/{SUBSCRIPTION_UUID.upper()}"
    url = f"http://wec.test.local:{running.port}{path}"
    # One TCP connection for both requests (the Kerberos context belongs to it).
    http = http_client.HTTPConnection("127.0.0.1", running.port, timeout=20)
    try:
        token = base64.b64encode(client.step()).decode()
        http.request(
            "POST",
            path,
            body=b"",
            headers={
                "Authorization": f"Negotiate {token}",
                "Content-Type": "application/soap+xml;charset=UTF-16",
            },
        )
        first = http.getresponse()
        first.read()
        assert first.status == 200
        kind, _, reply = (first.getheader("WWW-Authenticate") or "").partition(" ")
        assert kind == "Negotiate"
        client.step(base64.b64decode(reply))
        assert client.complete

        refs = [
            soap.RefParam(
                "http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", SUBSCRIPTION_UUID.upper()
            ),
            soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
        ]
        message_id = soap.new_uuid()
        heartbeat = soap.encode_utf16(
            soap.build_heartbeat(
                to=url,
                machine_id="win10.wec.test",
                message_id=message_id,
                refs=refs,
                session_id=soap.new_uuid(),
                operation_id=soap.new_uuid(),
            )
        )
        encryption = winrm_encryption.Encryption(SimpleNamespace(auth=_PyspnegoAuth(client)), "kerberos")
        prepared = encryption.prepare_encrypted_request(requests.Session(), url, compress(heartbeat))
        http.request(
            "POST",
            path,
            body=prepared.body,
            headers={"Content-Type": prepared.headers["Content-Type"], "Content-Encoding": "SLDC"},
        )
        resp = http.getresponse()
        content = resp.read()
        assert resp.status == 200, running.logs()[-2000:]
        content_type = resp.getheader("Content-Type") or ""
    finally:
        http.close()

    # Our framing (Windows' form, no tabs) is parsed here; the GSS part is pyspnego's.
    from wec.auth.multipart import parse_encrypted

    body = parse_encrypted(content_type, content)
    ack = bytes(client.unwrap_winrm(body.header, body.data)).decode("utf-16")
    assert "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack" in ack
    assert f"<a:RelatesTo>{message_id}</a:RelatesTo>" in ack
