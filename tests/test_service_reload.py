# SPDX-License-Identifier: GPL-3.0-or-later
"""CollectorService under a reload (SIGHUP, `wec subscriptions reload`, a database change)
that lands while a batch is being delivered: the batch must still be delivered and acked,
and the replaced outputs closed once nothing uses them any more."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.e2e.harness import subscription_toml
from wec.config import load_settings
from wec.model import OutputConfig
from wec.outputs import registry
from wec.outputs.base import OutputBatch, OutputError
from wec.protocol import parse_message
from wec.service import CollectorService, RequestContext
from wec.sim import soap
from wec.store import HeartbeatQueue, open_store
from wec.store.settings import DatabaseSettings
from wec.subscriptions.files import parse_subscription

DATA = Path(__file__).parent / "data"
UUID = "7f1d4d2a-2f0e-4d8a-9c55-0b6f0c3a9e01"
WAIT = 10.0
BOOKMARK = '<BookmarkList><Bookmark Channel="Security" RecordId="1" IsCurrent="true"/></BookmarkList>'
EVENT = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='p'/><EventID>4624</EventID><EventRecordID>1</EventRecordID>"
    "<Channel>Security</Channel><Computer>win10.wec.test</Computer></System></Event>"
)


class GateDriver:
    """An output whose write waits for a gate; like the real network drivers (Tcp, Redis,
    UnixDatagram, Kafka), it refuses to write once closed."""

    instances: ClassVar[list[GateDriver]] = []
    entered: ClassVar[threading.Event] = threading.Event()
    gate: ClassVar[threading.Event] = threading.Event()

    def __init__(self) -> None:
        self.closed = False
        self.written: list[OutputBatch] = []
        GateDriver.instances.append(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: Any) -> GateDriver:
        return cls()

    def write(self, batch: OutputBatch) -> None:
        GateDriver.entered.set()
        assert GateDriver.gate.wait(WAIT)
        if self.closed:
            raise OutputError("gate output is closed")
        self.written.append(batch)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CollectorService]:
    monkeypatch.setitem(registry.DRIVERS, "Gate", (__name__, "GateDriver"))
    GateDriver.instances.clear()
    GateDriver.entered.clear()
    GateDriver.gate.clear()
    settings = load_settings(DATA / "openwec.conf.toml", environ={})
    settings = dataclasses.replace(
        settings,
        database=DatabaseSettings(type="SQLite", path=str(tmp_path / "wec.sqlite")),
        server=dataclasses.replace(settings.server, state_dir=str(tmp_path)),
    )
    store = open_store(settings.database)
    store.init()
    sub = parse_subscription(subscription_toml(uuid=UUID))
    sub = dataclasses.replace(sub, outputs=(OutputConfig(driver="Gate", format="Raw"),))
    store.put_subscription(sub)
    heartbeats = HeartbeatQueue(store, 60.0, 100)
    svc = CollectorService(settings, store, heartbeats)
    svc.sync(force=True)
    try:
        yield svc
    finally:
        GateDriver.gate.set()
        svc.close()
        heartbeats.close()
        store.close()


def _events_message() -> Any:
    refs = [
        soap.RefParam("http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", UUID.upper()),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]
    xml = soap.build_events(
        to=f"http://wec.windomain.local:5985/wsman/subscriptions/{UUID.upper()}",
        machine_id="win10.wec.test",
        message_id=soap.new_uuid(),
        refs=refs,
        events=[EVENT],
        bookmark_xml=BOOKMARK,
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    return parse_message(xml)


def test_a_batch_in_flight_during_a_reload_is_delivered_and_acked(service: CollectorService) -> None:
    ctx = RequestContext(
        principal="WIN10$@WEC.TEST",
        ip="192.0.2.10",
        path=f"/wsman/subscriptions/{UUID.upper()}",
        collector=service.settings.collectors[0],
    )
    result: dict[str, Any] = {}

    def deliver() -> None:
        try:
            result["ack"] = service.handle(_events_message(), ctx)
        except Exception as err:  # reported below
            result["error"] = err

    worker = threading.Thread(target=deliver, daemon=True)
    worker.start()
    assert GateDriver.entered.wait(WAIT)
    service.sync(force=True)  # SIGHUP: every output rebuilt while the batch is in flight
    assert len(GateDriver.instances) == 2
    old, new = GateDriver.instances
    GateDriver.gate.set()
    worker.join(WAIT)

    assert "error" not in result, f"the in-flight batch was refused: {result.get('error')}"
    assert result["ack"] and "Ack" in result["ack"]
    assert len(old.written) == 1
    assert service.store.get_bookmark(ctx.principal, UUID) is not None
    # the replaced output is closed once its last batch is done; the new one stays open
    assert old.closed and not new.closed
