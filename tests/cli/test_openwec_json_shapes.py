# SPDX-License-Identifier: GPL-3.0-or-later
"""``--format json`` as a drop-in for OpenWEC's scripts: ``stats``, ``heartbeats``, ``bookmarks
show`` and ``subscriptions export`` carry OpenWEC's keys with OpenWEC's value types (read from
its CLI: cli/src/stats.rs, common/src/heartbeat.rs, common/src/bookmark.rs,
common/src/models/export.rs); wec's extra keys stand beside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.conftest import QUERY, Cli, subscription_file
from wec.store.base import HeartbeatUpdate
from wec.subscriptions.export import load_json
from wec.subscriptions.openwec_export import openwec_entries

UUID = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"
NOW = datetime.now(UTC).replace(microsecond=0)

# key → the JSON types OpenWEC writes there (None: null)
STATS = {
    "subscription_name": (str,),
    "subscription_uuid": (str,),
    "subscription_uri": (str, type(None)),
    "since": (str,),
    "total_machines_count": (int,),
    "alive_machines_count": (int,),
    "active_machines_count": (int,),
    "dead_machines_count": (int,),
}
HEARTBEAT = {
    "machine": (str,),
    "ip": (str,),
    "subscription_uuid": (str,),
    "subscription_name": (str,),
    "first_seen": (str,),
    "last_seen": (str,),
    "last_event_seen": (str, type(None)),
}
BOOKMARK = {"machine": (str,), "subscription_uuid": (str,), "subscription_name": (str,), "bookmark": (str,)}
EXPORT_ENTRY = {
    "uuid": (str,),
    "revision": (str, type(None)),
    "name": (str,),
    "uri": (str, type(None)),
    "query": (str,),
    "heartbeat_interval": (int,),
    "connection_retry_count": (int,),
    "connection_retry_interval": (int,),
    "max_time": (int,),
    "max_elements": (int, type(None)),
    "max_envelope_size": (int,),
    "enabled": (bool,),
    "read_existing_events": (bool,),
    "content_format": (str,),
    "ignore_channel_error": (bool,),
    "locale": (str, type(None)),
    "data_locale": (str, type(None)),
    "filter": (dict,),
    "outputs": (list,),
}
# wec's own keys, beside OpenWEC's (docs/cli.md)
WEC_STATS = {"subscription", "enabled", "interval", "start", "total", "active", "alive", "dead"}


def assert_shape(obj: dict[str, Any], shape: dict[str, tuple[type, ...]], extra: set[str]) -> None:
    assert set(obj) == set(shape) | extra, set(obj) ^ (set(shape) | extra)
    for key, types in shape.items():
        # bool is an int in Python, never in JSON: an integer field must not be true/false.
        value = obj[key]
        assert isinstance(value, types) and not (bool not in types and isinstance(value, bool)), (key, value)


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def loaded(cli: Cli) -> Cli:
    outputs = (
        '[[outputs]]\ndriver = "Tcp"\nformat = "Json"\n'
        'config = { host = "siem", port = 514, framing = "octet-counting", syslog = { rfc = "5424" } }\n'
        '[[outputs]]\ndriver = "Kafka"\nformat = "Raw"\nenabled = false\n'
        'config = { topic = "t", options = { "bootstrap.servers" = "k:9092", "enable.idempotence" = true, '
        '"linger.ms" = 5 } }\n'
        '[[outputs]]\ndriver = "Relp"\nformat = "Json"\nconfig = { host = "siem", port = 2514 }\n'
    )
    text = subscription_file(
        "security",
        UUID,
        options='heartbeat_interval = 600\nuri = "/wsman/sec"\nlocale = "fr-FR"',
        extra='[filter]\noperation = "Only"\nprincs = ["B$@WEC.TEST", "A$@WEC.TEST"]\n',
    ).replace("[[outputs]]", outputs + "[[outputs]]", 1)
    cli.ok("subscriptions", "load", str(cli.write("s.toml", text)))
    store = cli.store()
    store.put_heartbeats(
        [
            HeartbeatUpdate("ACTIVE$@WEC.TEST", UUID, "192.0.2.1", NOW, NOW, NOW - timedelta(days=1)),
            HeartbeatUpdate("ALIVE$@WEC.TEST", UUID, "192.0.2.2", NOW, None, NOW - timedelta(days=1)),
            HeartbeatUpdate(
                "DEAD$@WEC.TEST", UUID, "192.0.2.3", NOW - timedelta(days=1), None, NOW - timedelta(days=2)
            ),
        ]
    )
    store.put_bookmark("ACTIVE$@WEC.TEST", UUID, "<BookmarkList/>")
    store.close()
    return cli


def test_stats(loaded: Cli) -> None:
    (s,) = loaded.ok("stats", "--format", "json").json()
    assert_shape(s, STATS, WEC_STATS)
    assert (s["subscription_name"], s["subscription_uuid"], s["subscription_uri"]) == (
        "security",
        UUID,
        "/wsman/sec",
    )
    assert (s["total_machines_count"], s["active_machines_count"], s["alive_machines_count"]) == (3, 1, 1)
    assert s["dead_machines_count"] == 1
    assert rfc3339(s["since"]).tzinfo is not None and rfc3339(s["since"]) <= datetime.now(UTC)


def test_heartbeats(loaded: Cli) -> None:
    rows = loaded.ok("heartbeats", "--format", "json").json()
    assert len(rows) == 3
    for row in rows:
        assert_shape(row, HEARTBEAT, {"subscription"})
        assert row["subscription_uuid"] == UUID and row["subscription_name"] == "security"
        assert rfc3339(row["last_seen"]) <= rfc3339(row["last_seen"]) + timedelta(0)  # parses
    by_machine = {r["machine"]: r for r in rows}
    assert by_machine["ALIVE$@WEC.TEST"]["last_event_seen"] is None
    assert rfc3339(by_machine["ACTIVE$@WEC.TEST"]["last_event_seen"]) == NOW


def test_bookmarks_show(loaded: Cli) -> None:
    (b,) = loaded.ok("bookmarks", "show", "security", "--format", "json").json()
    assert_shape(b, BOOKMARK, {"subscription"})
    assert (b["machine"], b["subscription_uuid"], b["bookmark"]) == (
        "ACTIVE$@WEC.TEST",
        UUID,
        "<BookmarkList/>",
    )


def test_subscriptions_export_is_openwecs_v2_document(loaded: Cli) -> None:
    doc = json.loads(loaded.ok("subscriptions", "export", "--format", "json").out)
    assert set(doc) == {"schema", "data", "format", "version"}
    assert doc["schema"] == "V2" and set(doc["data"]) == {"subscriptions"}
    (entry,) = doc["data"]["subscriptions"]
    assert_shape(entry, EXPORT_ENTRY, {"wec"})
    assert (entry["uuid"], entry["name"], entry["uri"], entry["query"]) == (
        UUID,
        "security",
        "/wsman/sec",
        QUERY,
    )
    assert entry["content_format"] in ("Raw", "RenderedText") and entry["locale"] == "fr-FR"
    assert entry["heartbeat_interval"] == 600 and entry["max_elements"] is None
    assert entry["filter"] == {"operation": "Only", "princs": ["A$@WEC.TEST", "B$@WEC.TEST"]}
    # Outputs: OpenWEC's drivers only (Relp is wec's, kept in "wec"), OpenWEC's key names and
    # types; wec's keys (framing, syslog) beside them.
    tcp, kafka, files = entry["outputs"]
    assert set(tcp) == {"format", "driver", "enabled"}
    assert tcp["format"] == "Json" and tcp["enabled"] is True
    assert tcp["driver"] == {
        "Tcp": {
            "addr": "siem",
            "port": 514,
            "tls_enabled": False,
            "tls_certificate_authorities": [],
            "tls_certificate": None,
            "tls_key": None,
            "framing": "octet-counting",
            "syslog": {"rfc": "5424"},
        }
    }
    assert kafka["enabled"] is False
    assert kafka["driver"]["Kafka"]["options"] == {
        "bootstrap.servers": "k:9092",
        "enable.idempotence": "true",
        "linger.ms": "5",
    }
    assert list(files["driver"]) == ["Files"] and isinstance(files["driver"]["Files"]["path"], str)
    assert [o["driver"] for o in entry["wec"]["outputs"]] == ["Tcp", "Kafka", "Relp", "Files"]


def test_what_openwec_reads_of_the_export_is_the_same_subscription(loaded: Cli) -> None:
    """OpenWEC's reader ignores keys it does not know: strip wec's and read the rest as an
    OpenWEC export; it is the subscription minus what only wec has (the Relp output)."""
    doc = json.loads(loaded.ok("subscriptions", "export").out)
    wec_sub = load_json(json.dumps(doc))[0]
    openwec_doc = {
        "schema": doc["schema"],
        "data": {"subscriptions": [dict(e) for e in doc["data"]["subscriptions"]]},
    }
    for e in openwec_doc["data"]["subscriptions"]:
        e.pop("wec")
    (entry,) = openwec_entries(openwec_doc, "openwec.json")
    assert entry["name"] == wec_sub.name and entry["query"] == wec_sub.query
    assert entry["options"]["heartbeat_interval"] == wec_sub.heartbeat_interval
    assert [o["driver"] for o in entry["outputs"]] == [
        o.driver for o in wec_sub.outputs if o.driver != "Relp"
    ]


def test_the_export_imports_back_unchanged_and_the_previous_export_still_imports(loaded: Cli) -> None:
    exported = loaded.ok("subscriptions", "export").out
    (sub,) = load_json(exported)
    assert [o.driver for o in sub.outputs] == ["Tcp", "Kafka", "Relp", "Files"]
    entry = json.loads(exported)["data"]["subscriptions"][0]["wec"]
    (old,) = load_json(json.dumps({"format": "wec-subscriptions", "version": 1, "subscriptions": [entry]}))
    assert old == sub
