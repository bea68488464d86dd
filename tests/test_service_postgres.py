# SPDX-License-Identifier: GPL-3.0-or-later
"""CollectorService on PostgreSQL while the database is down, message by message: what needs
the database is a 503 (never a 500), heartbeats are still acknowledged (they wait in memory),
and after the restart the same service object works again."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import subscription_toml
from tests.support.postgres import PgCluster
from wec.config import load_settings
from wec.protocol import parse_message
from wec.service import CollectorService, RequestContext, ServiceError
from wec.sim import soap
from wec.store import HeartbeatQueue, StoreUnavailable
from wec.store.postgres import PostgresStore
from wec.subscriptions.files import parse_subscription

DATA = Path(__file__).parent / "data"
UUID = "5c0f5d0e-7a51-4d3e-b3f2-2b8f0f2a9c11"
MANAGER = "http://wec.windomain.local:5985/wsman/SubscriptionManager/WEC"
EVENT = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='p'/><EventID>4624</EventID><EventRecordID>{n}</EventRecordID>"
    "<Channel>Security</Channel><Computer>win10.wec.test</Computer></System></Event>"
)


@pytest.fixture
def service(tmp_path: Path, pg_cluster: PgCluster) -> Iterator[CollectorService]:
    dbname = pg_cluster.create_database("svc")
    settings = load_settings(DATA / "openwec.conf.toml", environ={})
    settings = dataclasses.replace(
        settings,
        database=pg_cluster.settings(dbname),
        server=dataclasses.replace(settings.server, state_dir=str(tmp_path)),
    )
    store = PostgresStore(settings.database, retry_interval=0.05)
    store.init()
    store.put_subscription(parse_subscription(subscription_toml(uuid=UUID)))
    heartbeats = HeartbeatQueue(store, 3600.0, 100)
    svc = CollectorService(settings, store, heartbeats)
    svc.sync(force=True)
    try:
        yield svc
    finally:
        pg_cluster.start()
        svc.close()
        heartbeats.close()
        store.close()
        pg_cluster.drop_database(dbname)


def _ctx(service: CollectorService, path: str) -> RequestContext:
    return RequestContext("WIN10$@WEC.TEST", "192.0.2.10", path, service.settings.collectors[0])


def _refs() -> list[soap.RefParam]:
    return [
        soap.RefParam("http://schemas.xmlsoap.org/ws/2004/08/eventing", "Identifier", UUID.upper()),
        soap.RefParam(None, "Version", "00000000-0000-0000-0000-000000000000"),
    ]


def _enumerate() -> Any:
    xml = soap.build_enumerate(MANAGER, "win10.wec.test", soap.new_uuid(), soap.new_uuid(), soap.new_uuid())
    return parse_message(xml)


def _heartbeat() -> Any:
    to = f"http://wec.windomain.local:5985/wsman/subscriptions/{UUID.upper()}"
    xml = soap.build_heartbeat(
        to, "win10.wec.test", soap.new_uuid(), _refs(), soap.new_uuid(), soap.new_uuid()
    )
    return parse_message(xml)


def _events(n: int) -> Any:
    xml = soap.build_events(
        to=f"http://wec.windomain.local:5985/wsman/subscriptions/{UUID.upper()}",
        machine_id="win10.wec.test",
        message_id=soap.new_uuid(),
        refs=_refs(),
        events=[EVENT.format(n=n)],
        bookmark_xml=f'<BookmarkList><Bookmark Channel="Security" RecordId="{n}"/></BookmarkList>',
        session_id=soap.new_uuid(),
        operation_id=soap.new_uuid(),
    )
    return parse_message(xml)


def test_a_database_outage_is_503_for_what_needs_it_and_passes(
    service: CollectorService, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    manager = _ctx(service, "/wsman/SubscriptionManager/WEC")
    stream = _ctx(service, f"/wsman/subscriptions/{UUID.upper()}")
    assert "EnumerateResponse" in (service.handle(_enumerate(), manager) or "")
    assert "Ack" in (service.handle(_events(1), stream) or "")
    pg_cluster.stop()
    with pytest.raises(ServiceError) as enumerate_refused:
        service.handle(_enumerate(), manager)  # bookmarks are read from the database
    assert enumerate_refused.value.status == 503
    assert isinstance(enumerate_refused.value.__cause__, StoreUnavailable)
    assert "Ack" in (service.handle(_heartbeat(), stream) or "")  # queued in memory
    with pytest.raises(ServiceError) as events_refused:
        service.handle(_events(2), stream)  # delivered, but the bookmark cannot be stored
    assert events_refused.value.status == 503
    pg_cluster.start()
    deadline = time.monotonic() + 20
    while True:
        try:
            reply = service.handle(_events(2), stream)  # the source's resend
            break
        except ServiceError as err:
            assert err.status == 503 and time.monotonic() < deadline
            time.sleep(0.05)
    assert "Ack" in (reply or "")
    assert service.store.get_bookmark("WIN10$@WEC.TEST", UUID) == (
        '<BookmarkList><Bookmark Channel="Security" RecordId="2"/></BookmarkList>'
    )
    assert service.heartbeats.flush() == 1
    # Record 2 reached the output twice (before the refused Ack and with the resend): at least
    # once, never lost.
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert written.count("<EventRecordID>2</EventRecordID>") == 2
    assert written.count("<EventRecordID>1</EventRecordID>") == 1
