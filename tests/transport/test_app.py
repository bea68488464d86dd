# SPDX-License-Identifier: GPL-3.0-or-later
"""WecApp over its security seam (wec.auth.session.Session): the app never looks at how a
body is protected, so a session that passes bodies through (as a TLS session will) is served
like a Kerberos one; plus the status lines and the body sizes reported to the metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from tests.e2e.harness import subscription_toml
from tests.support.kdc import Kdc
from tests.transport.test_server import PassThroughSession
from wec.auth import KerberosAcceptor
from wec.config import load_settings
from wec.cpu_gate import cpu_gate
from wec.protocol import Heartbeat, parse_message
from wec.service import CollectorService
from wec.sim import soap
from wec.store import HeartbeatQueue, open_store
from wec.store.settings import DatabaseSettings
from wec.subscriptions.files import parse_subscription
from wec.transport.app import WecApp, _status_line
from wec.transport.server import ENVIRON_KEY, ConnectionState

DATA = Path(__file__).parent.parent / "data"
UUID = "7f1d4d2a-2f0e-4d8a-9c55-0b6f0c3a9e01"
SOAP = "application/soap+xml;charset=UTF-16"


@pytest.mark.parametrize(
    ("code", "line"),
    [
        (200, "200 OK"),
        (400, "400 Bad Request"),
        (401, "401 Unauthorized"),
        (403, "403 Forbidden"),
        (404, "404 Not Found"),
        (411, "411 Length Required"),
        (413, "413 Content Too Large"),  # RFC 9110's name, whatever Python's version says
        (500, "500 Internal Server Error"),
        (503, "503 Service Unavailable"),
        (299, "299 Error"),
    ],
)
def test_status_lines(code: int, line: str) -> None:
    assert _status_line(code) == line


@pytest.fixture
def app(tmp_path: Path, kdc: Kdc) -> Iterator[WecApp]:
    settings = load_settings(DATA / "openwec.conf.toml", environ={})
    settings = dataclasses.replace(
        settings,
        database=DatabaseSettings(type="SQLite", path=str(tmp_path / "wec.sqlite")),
        server=dataclasses.replace(settings.server, state_dir=str(tmp_path)),
    )
    store = open_store(settings.database)
    store.init()
    store.put_subscription(parse_subscription(subscription_toml(uuid=UUID)))
    heartbeats = HeartbeatQueue(store, 60.0, 100)
    service = CollectorService(settings, store, heartbeats)
    service.sync(force=True)
    try:
        yield WecApp(settings.collectors[0], service, KerberosAcceptor(str(kdc.service_keytab), None))
    finally:
        service.close()
        heartbeats.close()
        store.close()


def _heartbeat() -> bytes:
    refs = [
        soap.RefParam("http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", UUID.upper()),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]
    xml = soap.build_heartbeat(
        to=f"http://wec.windomain.local:5985/wsman/subscriptions/{UUID.upper()}",
        machine_id="win10.wec.test",
        message_id=soap.new_uuid(),
        refs=refs,
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    return soap.encode_utf16(xml)


def _call(app: WecApp, conn: ConnectionState, body: bytes) -> tuple[str, dict[str, str], bytes]:
    environ = EnvironBuilder(
        path=f"/wsman/subscriptions/{UUID.upper()}",
        method="POST",
        data=body,
        content_type=SOAP,
    ).get_environ()
    environ[ENVIRON_KEY] = conn
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got["status"], got["headers"] = status, dict(headers)

    chunks = app(environ, start_response)
    return got["status"], got["headers"], b"".join(chunks)


def test_a_pass_through_session_is_served_with_its_principal(app: WecApp) -> None:
    conn = ConnectionState("192.0.2.10", 50000, 1, session=PassThroughSession())
    status, headers, body = _call(app, conn, _heartbeat())
    assert status == "200 OK"
    assert headers["Content-Type"] == SOAP
    assert body.startswith(b"\xff\xfe")
    assert "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack" in body.decode("utf-16")
    app.service.heartbeats.flush()
    (row,) = app.service.store.list_heartbeats(UUID)
    assert (row.client, row.ip) == (PassThroughSession.principal, "192.0.2.10")


def test_the_response_carries_the_body_sizes_for_the_metrics(app: WecApp) -> None:
    conn = ConnectionState("192.0.2.10", 50000, 1, session=PassThroughSession())
    body = _heartbeat()
    request = EnvironBuilder(
        path=f"/wsman/subscriptions/{UUID.upper()}", method="POST", data=body, content_type=SOAP
    ).get_request()
    resp = app._handle(request, conn)
    assert resp.status == 200
    assert resp.request_bytes == resp.message_bytes == len(body)
    assert isinstance(parse_message(body.decode("utf-16")), Heartbeat)


def test_a_refused_request_still_reports_what_was_read(app: WecApp) -> None:
    conn = ConnectionState("192.0.2.10", 50000, 1, session=PassThroughSession())
    body = soap.encode_utf16("<not-soap/>")
    request = EnvironBuilder(method="POST", data=body, content_type=SOAP).get_request()
    resp = app._handle(request, conn)
    assert resp.status == 400
    assert resp.body == b""
    assert resp.request_bytes == resp.message_bytes == len(body)


def test_decryption_and_parsing_hold_the_cpu_gate_and_the_service_does_not(app: WecApp) -> None:
    # The service waits for outputs and the database: it must run outside the gate, or one
    # slow output would stop every other request's parsing (wec.cpu_gate).
    seen: dict[str, bool] = {}

    class GateSession(PassThroughSession):
        def decrypt_request(self, content_type: str, body: bytes) -> bytes:
            seen["decrypt"] = cpu_gate.locked()
            return body

    handle = app.service.handle

    def service_handle(message: Any, ctx: Any) -> str | None:
        seen["service"] = cpu_gate.locked()
        return handle(message, ctx)

    app.service.handle = service_handle  # type: ignore[method-assign]
    conn = ConnectionState("192.0.2.10", 50000, 1, session=GateSession())
    status, _, _ = _call(app, conn, _heartbeat())
    assert status == "200 OK"
    assert seen == {"decrypt": True, "service": False}
    # A body that does not parse is refused with the gate released.
    status, _, _ = _call(app, conn, soap.encode_utf16("<not-soap"))
    assert status == "400 Bad Request"
    assert not cpu_gate.locked()
