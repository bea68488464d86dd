# SPDX-License-Identifier: GPL-3.0-or-later
"""CollectorService.enumerate over a real SQLite store: a subscription that cannot be written
is left out (and logged once), the others are still offered."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import subscription_toml
from tests.protocol import envelopes as env
from wec.config import load_settings
from wec.protocol import Enumerate, parse_message
from wec.service import CollectorService, RequestContext
from wec.store import HeartbeatQueue, open_store
from wec.store.settings import DatabaseSettings
from wec.subscriptions.files import parse_subscription

DATA = Path(__file__).parent / "data"
GOOD = "7f1d4d2a-2f0e-4d8a-9c55-0b6f0c3a9e01"
BAD = "0b9f6f2e-6c4d-4c1e-9a57-3d2b8e7f1a10"
PRINCIPAL = "WIN10$@WEC.TEST"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CollectorService]:
    settings = load_settings(DATA / "openwec.conf.toml", environ={})
    settings = dataclasses.replace(
        settings,
        database=DatabaseSettings(type="SQLite", path=str(tmp_path / "wec.sqlite")),
        server=dataclasses.replace(settings.server, state_dir=str(tmp_path)),
    )
    store = open_store(settings.database)
    store.init()
    store.put_subscription(parse_subscription(subscription_toml(uuid=GOOD, name="good")))
    store.put_subscription(parse_subscription(subscription_toml(uuid=BAD, name="bad")))
    # A stored bookmark that cannot go back into a Subscribe (damaged in the database).
    store.put_bookmark(PRINCIPAL, BAD, "<BookmarkList><Bookmark Channel='Security'")
    heartbeats = HeartbeatQueue(store, 60.0, 100)
    svc = CollectorService(settings, store, heartbeats)
    svc.sync(force=True)
    try:
        yield svc
    finally:
        svc.close()
        heartbeats.close()
        store.close()


def test_a_subscription_that_cannot_be_written_does_not_hide_the_others(
    service: CollectorService, caplog: pytest.LogCaptureFixture
) -> None:
    message = parse_message(
        env.enumerate_request(to="http://wec.windomain.local:5985/wsman/SubscriptionManager/WEC")
    )
    assert isinstance(message, Enumerate)
    ctx = RequestContext(
        principal=PRINCIPAL,
        ip="192.0.2.10",
        path="/wsman/SubscriptionManager/WEC",
        collector=service.settings.collectors[0],
    )
    response = service.enumerate(message, ctx)
    assert GOOD.upper() in response
    assert BAD.upper() not in response
    refusals = [r for r in caplog.records if "cannot be offered" in r.getMessage()]
    assert len(refusals) == 1
    assert "subscription bad cannot be offered to WIN10$@WEC.TEST" in refusals[0].getMessage()
