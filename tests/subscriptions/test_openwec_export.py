# SPDX-License-Identifier: GPL-3.0-or-later
"""Importing what ``openwec subscriptions export`` writes (schemas V1 and V2)."""

from __future__ import annotations

import json

import pytest

from wec.model import ContentFormat, FilterOperation
from wec.subscriptions.export import load_json
from wec.subscriptions.files import SubscriptionFileError

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'


def _entry(**over: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "uuid": "2a0c4b6e-8d1f-4e3a-9b5c-7d9e1f3a5c7e",
        "revision": "r42",
        "name": "dc-security",
        "uri": None,
        "query": QUERY,
        "heartbeat_interval": 900,
        "connection_retry_count": 7,
        "connection_retry_interval": 30,
        "max_time": 15,
        "max_elements": 250,
        "max_envelope_size": 512000,
        "enabled": True,
        "read_existing_events": False,
        "content_format": "RenderedText",
        "ignore_channel_error": True,
        "locale": "fr-FR",
        "data_locale": None,
        "filter": {"operation": "Except", "princs": ["DC02$@CORP.EXAMPLE", "DC01$@CORP.EXAMPLE"]},
        "outputs": [
            {
                "format": "Json",
                "driver": {"Files": {"path": "/srv/wec/{ip}/{client}/events"}},
                "enabled": True,
            },
            {
                "format": "Raw",
                "driver": {
                    "Tcp": {
                        "addr": "siem.corp.example",
                        "port": 5514,
                        "tls_enabled": False,
                        "tls_certificate_authorities": [],
                        "tls_certificate": None,
                        "tls_key": None,
                    }
                },
                "enabled": False,
            },
            {
                "format": "Nxlog",
                "driver": {"Redis": {"addr": "127.0.0.1:6379", "list": "wec"}},
                "enabled": True,
            },
        ],
    }
    entry.update(over)
    return entry


def test_a_v2_export_imports_with_every_option() -> None:
    [sub] = load_json(json.dumps({"schema": "V2", "data": {"subscriptions": [_entry()]}}), source="x.json")
    assert sub.name == "dc-security" and sub.revision == "r42"
    assert (sub.heartbeat_interval, sub.connection_retry_count, sub.connection_retry_interval) == (900, 7, 30)
    assert (sub.max_time, sub.max_elements, sub.locale, sub.data_locale) == (15, 250, "fr-FR", None)
    assert sub.content_format is ContentFormat.RENDERED_TEXT
    assert sub.filter is not None and sub.filter.operation is FilterOperation.EXCEPT
    assert set(sub.filter.targets) == {"DC01$@CORP.EXAMPLE", "DC02$@CORP.EXAMPLE"}
    files, tcp, redis = sub.outputs
    assert files.config == {"path": "/srv/wec/{ip}/{client}/events"}
    assert tcp.driver == "Tcp" and tcp.config["host"] == "siem.corp.example" and not tcp.enabled
    assert redis.format == "Nxlog" and redis.config == {"addr": "127.0.0.1:6379", "list": "wec"}


def test_a_v1_export_converts_the_legacy_files_keys() -> None:
    entry = _entry(
        outputs=[
            {
                "format": "Raw",
                "enabled": True,
                "driver": {
                    "Files": {
                        "base": "/var/log/wec",
                        "split_on_addr_index": 2,
                        "append_node_name": False,
                        "filename": "messages",
                    }
                },
            }
        ]
    )
    del entry["max_elements"]  # V1 had no max_elements
    [sub] = load_json(json.dumps({"schema": "V1", "data": {"subscriptions": [entry]}}))
    path = sub.outputs[0].config["path"]
    assert path.startswith("/var/log/wec/{ip:2}/") and path.endswith("/{ip}/{principal}/messages")
    assert sub.max_elements is None


def test_a_filter_without_operation_means_no_filter() -> None:
    [sub] = load_json(
        json.dumps(
            {"schema": "V2", "data": {"subscriptions": [_entry(filter={"operation": None, "princs": []})]}}
        )
    )
    assert sub.filter is None


@pytest.mark.parametrize(
    "doc",
    [
        {"schema": "V9", "data": {"subscriptions": []}},
        {"schema": "V2", "data": {}},
        {"schema": "V2", "data": {"subscriptions": [{"name": "x"}]}},
        {
            "schema": "V2",
            "data": {"subscriptions": [_entry(outputs=[{"format": "Json", "driver": "Files"}])]},
        },
    ],
)
def test_malformed_openwec_exports_are_refused_clearly(doc: dict[str, object]) -> None:
    with pytest.raises(SubscriptionFileError):
        load_json(json.dumps(doc), source="bad.json")
