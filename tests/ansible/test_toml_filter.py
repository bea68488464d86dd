# SPDX-License-Identifier: GPL-3.0-or-later
"""The role's ``to_wec_toml`` filter writes TOML that reads back to the same data, and
settings that wec itself accepts."""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Callable
from typing import Any

import pytest

from tests.ansible.support import ANSIBLE_DIR
from wec.config import parse_settings


def _filter() -> Callable[[Any], str]:
    path = ANSIBLE_DIR / "roles" / "wec_collector" / "filter_plugins" / "wec_toml.py"
    spec = importlib.util.spec_from_file_location("wec_toml_filter", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[[Any], str] = module.FilterModule().filters()["to_wec_toml"]
    return fn


to_wec_toml = _filter()

SETTINGS: dict[str, Any] = {
    "server": {
        "keytab": "/etc/wec/wec.keytab",
        "db_sync_interval": 0.5,
        "worker_processes": 2,
        "node_name": None,
    },
    "logging": {"verbosity": "info", "server_logs": "/var/log/wec/wecd.log"},
    "database": {"type": "Postgres", "host": "db", "dbname": "wec", "user": "wec", "password": 'p"w\\d\n é'},
    "outputs": {
        "files": {"files_descriptor_close_timeout": 60},
        "kafka": {"options": {"bootstrap.servers": "k:9092"}},
    },
    "monitoring": {
        "listen_address": "127.0.0.1",
        "listen_port": 9090,
        "http_request_duration_buckets": [0.1, 1, 10],
    },
    "collectors": [
        {
            "listen_address": "0.0.0.0",
            "listen_port": 5985,
            "enable_proxy_protocol": True,
            "authentication": {
                "type": "Kerberos",
                "service_principal_name": "HTTP/wec.example.org@EXAMPLE.ORG",
            },
        },
        {"listen_address": "0.0.0.0", "listen_port": 5986, "authentication": {"type": "Kerberos"}},
    ],
}


def test_settings_round_trip_and_wec_accepts_them() -> None:
    text = to_wec_toml(SETTINGS)
    data = tomllib.loads(text)
    expected = {**SETTINGS, "server": {k: v for k, v in SETTINGS["server"].items() if v is not None}}
    assert data == expected
    settings = parse_settings(data)
    assert settings.database.password == 'p"w\\d\n é'
    assert [c.listen_port for c in settings.collectors] == [5985, 5986]
    assert settings.collectors[0].enable_proxy_protocol is True
    assert settings.outputs.kafka_options == {"bootstrap.servers": "k:9092"}


def test_subscription_with_nested_outputs_round_trips() -> None:
    sub = {
        "uuid": "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
        "name": "security",
        "query": '<QueryList>\n  <Query Id="0"><Select Path="Security">*</Select></Query>\n</QueryList>',
        "filter": {"operation": "Only", "targets": ["WIN10$@EXAMPLE.ORG", "SRV*@EXAMPLE.ORG"]},
        "options": {"max_time": 30, "read_existing_events": False},
        "outputs": [
            {"driver": "Files", "format": "Json", "config": {"path": "/var/log/wec/{ip}/{client}"}},
            {"driver": "Tcp", "format": "Raw", "enabled": False, "config": {"host": "10.0.0.5", "port": 514}},
        ],
    }
    assert tomllib.loads(to_wec_toml(sub)) == sub


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": object()}, ["not", "a", "mapping"]])
def test_values_toml_cannot_hold_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        to_wec_toml(bad)
