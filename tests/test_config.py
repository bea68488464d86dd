# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings: OpenWEC's file loads unchanged, everything else is refused with the key named
(docs/settings.md)."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.kdc import Kdc
from wec.config import (
    AuthSettings,
    CliSettings,
    CollectorSettings,
    ConfigError,
    LoggingSettings,
    MonitoringSettings,
    OutputsSettings,
    ServerSettings,
    load_settings,
    parse_settings,
)
from wec.store.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

MINIMAL = """
[database]
type = "SQLite"
path = "wec.sqlite"

[[collectors]]
listen_address = "127.0.0.1"

[collectors.authentication]
type = "Kerberos"
"""


def _minimal() -> dict[str, Any]:
    return {
        "database": {"type": "SQLite", "path": "/var/lib/wec/db.sqlite"},
        "collectors": [{"listen_address": "127.0.0.1", "authentication": {"type": "Kerberos"}}],
    }


def _with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    raw = copy.deepcopy(_minimal())
    change(raw)
    return raw


def _write(tmp_path: Path, text: str, name: str = "wec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- an OpenWEC file, unchanged ----------------------------------------------------------


def test_openwec_settings_file_loads_with_every_key() -> None:
    s = load_settings(DATA / "openwec.conf.toml", environ={})

    assert s.server == ServerSettings(
        keytab="/etc/openwec.keytab",
        node_name="wec-node-1",
        db_sync_interval=5.0,
        flush_heartbeats_interval=10.0,
        heartbeats_queue_size=4096,
        tcp_keepalive_time=3600,
        tcp_keepalive_intvl=60,
        tcp_keepalive_probes=5,
        # no state_dir in the file: relative paths start from the file's directory
        state_dir=str(DATA),
    )
    assert s.logging == LoggingSettings(
        verbosity="info",
        server_logs="/var/log/openwec/server.log",
        server_logs_pattern="{d} {l} {t} - {m}{n}",
        access_logs="/var/log/openwec/access.log",
        access_logs_pattern=(
            '{X(ip)}:{X(port)} - {X(client)} [{d}] "{X(http_uri)}" {X(http_status)} {X(response_time)}{n}'
        ),
    )
    assert s.database == DatabaseSettings(type="SQLite", path="/var/lib/openwec/db/db.sqlite")
    assert s.collectors == (
        CollectorSettings(
            hostname="wec.windomain.local",
            listen_address="0.0.0.0",
            listen_port=5985,
            max_content_length=1000000,
            enable_proxy_protocol=True,
            advertized_port=15985,
            authentication=AuthSettings(
                type="Kerberos", service_principal_name="HTTP/wec.windomain.local@WINDOMAIN.LOCAL"
            ),
        ),
        CollectorSettings(
            hostname="wec.windomain.local",
            listen_address="0.0.0.0",
            listen_port=5986,
            authentication=AuthSettings(
                type="Tls",
                ca_certificate="/etc/openwec/tls/ca-cert.pem",
                server_certificate="/etc/openwec/tls/server-cert.pem",
                server_private_key="/etc/openwec/tls/server-key.pem",
            ),
        ),
    )
    assert s.collectors[0].public_port == 15985
    assert s.collectors[1].public_port == 5986  # advertized_port defaults to listen_port
    assert s.cli == CliSettings(read_only_subscriptions=True)
    assert s.outputs == OutputsSettings(
        garbage_collect_interval=300.0,
        files_descriptor_close_timeout=120.0,
        kafka_options={
            "bootstrap.servers": "kafka1.windomain.local:9092,kafka2.windomain.local:9092",
            "security.protocol": "SSL",
        },
    )
    assert s.monitoring == MonitoringSettings(
        listen_address="127.0.0.1",
        listen_port=9090,
        machines_refresh_interval=60.0,
        http_request_duration_buckets=(0.01, 0.1, 1.0, 10.0),
        count_input_events_per_machine=True,
        count_input_event_bytes_per_machine=True,
        count_http_request_body_network_size_per_machine=True,
        count_http_request_body_real_size_per_machine=True,
    )
    assert s.source == str(DATA / "openwec.conf.toml")


def test_openwec_postgres_settings_load_with_every_key() -> None:
    s = load_settings(DATA / "openwec-postgres.conf.toml", environ={})

    assert s.database == DatabaseSettings(
        type="Postgres",
        host="pg.windomain.local",
        port=5433,
        dbname="openwec",
        user="openwec",
        # a string that looks like a dynaconf directive or a template is kept as written
        password="@dm1n p@ss {not a template}",
        ssl_mode="Require",
        ca_file="/etc/openwec/pg-ca.pem",
        max_chunk_size=250,
    )


@pytest.mark.parametrize("value", ["@int 5", "@json [1]", "@format {env[HOME]}", "@bool true"])
def test_file_strings_are_not_interpreted_by_dynaconf(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, f'[server]\nnode_name = "{value}"\n' + MINIMAL)

    assert load_settings(path, environ={}).server.node_name == value


def test_defaults_are_openwec_defaults(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, MINIMAL), environ={})

    assert s.server.db_sync_interval == 5.0
    assert s.server.flush_heartbeats_interval == 5.0
    assert s.server.heartbeats_queue_size == 2048
    assert s.server.tcp_keepalive_time == 7200
    assert s.server.tcp_keepalive_intvl is None
    assert s.server.tcp_keepalive_probes is None
    assert s.logging.verbosity == "warn"
    assert s.logging.access_logs is None
    assert s.collectors[0].listen_port == 5985
    assert s.collectors[0].max_content_length == 512000
    assert s.collectors[0].enable_proxy_protocol is False
    assert s.collectors[0].public_port == 5985
    assert s.cli.read_only_subscriptions is False
    assert s.outputs.garbage_collect_interval == 600.0
    assert s.outputs.files_descriptor_close_timeout == 600.0
    assert s.outputs.kafka_options == {}
    assert s.monitoring is None


def test_embedded_default_config_loads() -> None:
    s = load_settings(ROOT / "config" / "wec.toml", environ={})

    assert s.database.type == "SQLite"
    assert Path(s.database.path or "").is_absolute()
    assert s.server.state_dir == str((ROOT / "state").resolve())
    assert Path(s.database.path or "").parent == Path(s.server.state_dir)
    assert [c.listen_address for c in s.collectors] == ["127.0.0.1"]
    assert s.collectors[0].authentication.type == "Kerberos"


# --- unknown keys and wrong types name the key ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda r: r["collectors"][0].update(listen_prot=5985), "collectors[0].listen_prot"),
        (lambda r: r.update(server={"foo": 1}), "server.foo"),
        (lambda r: r.update(outputs={"files": {"bar": 1}}), "outputs.files.bar"),
        (lambda r: r.update(outputs={"kafka": {"option": {}}}), "outputs.kafka.option"),
        (lambda r: r.update(outputs={"tcp": {}}), "outputs.tcp"),
        (lambda r: r.update(servr={"keytab": "x"}), "servr"),
        (lambda r: r.update(logging={"verbose": "info"}), "logging.verbose"),
        (lambda r: r["database"].update(pth="x"), "database.pth"),
        (lambda r: r["collectors"][0]["authentication"].update(spn="x"), "collectors[0].authentication.spn"),
        (lambda r: r.update(cli={"read_only": True}), "cli.read_only"),
        (lambda r: r.update(monitoring={"listen_address": "a", "listen_port": 1, "x": 1}), "monitoring.x"),
    ],
)
def test_unknown_key_is_rejected_by_name(change: Callable[[dict[str, Any]], object], key: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown.*'{re.escape(key)}'"):
        parse_settings(_with(change))


def test_unknown_collector_key_in_second_collector_names_its_index() -> None:
    second = {"listen_address": "127.0.0.2", "listen_prot": 1, "authentication": {"type": "Kerberos"}}
    with pytest.raises(ConfigError, match=r"collectors\[1\]\.listen_prot"):
        parse_settings(_with(lambda r: r["collectors"].append(second)))


def test_unknown_top_level_section_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + '\n[servr]\nkeytab = "x"\n')

    with pytest.raises(ConfigError, match="'servr'"):
        load_settings(path, environ={})


def test_unknown_collector_key_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MINIMAL.replace("[collectors.authentication]", "listen_prot = 5985\n[collectors.authentication]"),
    )

    with pytest.raises(ConfigError, match=r"collectors\[0\]\.listen_prot"):
        load_settings(path, environ={})


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda r: r["collectors"][0].update(listen_port=True), "collectors[0].listen_port"),
        (lambda r: r["collectors"][0].update(max_content_length=False), "collectors[0].max_content_length"),
        (lambda r: r.update(server={"heartbeats_queue_size": True}), "server.heartbeats_queue_size"),
        (lambda r: r.update(server={"db_sync_interval": True}), "server.db_sync_interval"),
        (lambda r: r.update(server={"db_sync_interval": "5"}), "server.db_sync_interval"),
        (lambda r: r.update(server={"heartbeats_queue_size": 2.5}), "server.heartbeats_queue_size"),
        (lambda r: r["collectors"][0].update(listen_port="5985"), "collectors[0].listen_port"),
        (lambda r: r["collectors"][0].update(enable_proxy_protocol=1), "collectors[0].enable_proxy_protocol"),
        (
            lambda r: r["collectors"][0].update(enable_proxy_protocol="true"),
            "collectors[0].enable_proxy_protocol",
        ),
        (lambda r: r["collectors"][0].update(authentication="Kerberos"), "collectors[0].authentication"),
        (
            lambda r: r["collectors"][0]["authentication"].update(service_principal_name=5),
            "collectors[0].authentication.service_principal_name",
        ),
        (lambda r: r.update(server={"keytab": 5}), "server.keytab"),
        (lambda r: r.update(server=[1]), "server"),
        (lambda r: r.update(logging={"verbosity": 3}), "logging.verbosity"),
        (lambda r: r.update(cli={"read_only_subscriptions": "yes"}), "cli.read_only_subscriptions"),
        (lambda r: r.update(outputs={"garbage_collect_interval": "600"}), "outputs.garbage_collect_interval"),
        (lambda r: r.update(outputs={"files": 3}), "outputs.files"),
        (lambda r: r.update(outputs={"kafka": {"options": 3}}), "outputs.kafka.options"),
        (
            lambda r: r["database"].update(type="Postgres", host="h", dbname="d", user="u", port="5432"),
            "database.port",
        ),
        (
            lambda r: r.update(monitoring={"listen_address": "a", "listen_port": True}),
            "monitoring.listen_port",
        ),
        (
            lambda r: r.update(
                monitoring={
                    "listen_address": "a",
                    "listen_port": 1,
                    "http_request_duration_buckets": [1, "2"],
                }
            ),
            "monitoring.http_request_duration_buckets",
        ),
        (
            lambda r: r.update(
                monitoring={"listen_address": "a", "listen_port": 1, "http_request_duration_buckets": [True]}
            ),
            "monitoring.http_request_duration_buckets",
        ),
        (
            lambda r: r.update(
                monitoring={"listen_address": "a", "listen_port": 1, "count_input_events_per_machine": 1}
            ),
            "monitoring.count_input_events_per_machine",
        ),
    ],
)
def test_wrong_type_names_the_key(change: Callable[[dict[str, Any]], object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(_with(change))
    assert f"'{key}'" in str(info.value)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda r: r["collectors"][0].update(listen_port=0), "collectors[0].listen_port"),
        (lambda r: r["collectors"][0].update(listen_port=65536), "collectors[0].listen_port"),
        (lambda r: r["collectors"][0].update(advertized_port=70000), "collectors[0].advertized_port"),
        (lambda r: r["collectors"][0].update(max_content_length=0), "collectors[0].max_content_length"),
        (lambda r: r["collectors"][0].update(listen_address=""), "collectors[0].listen_address"),
        (lambda r: r.update(server={"db_sync_interval": 0}), "server.db_sync_interval"),
        (lambda r: r.update(server={"heartbeats_queue_size": -1}), "server.heartbeats_queue_size"),
        (lambda r: r.update(server={"tcp_keepalive_time": 0}), "server.tcp_keepalive_time"),
        (lambda r: r.update(server={"tcp_keepalive_intvl": -5}), "server.tcp_keepalive_intvl"),
        (lambda r: r.update(server={"tcp_keepalive_probes": 0}), "server.tcp_keepalive_probes"),
        (lambda r: r.update(server={"shutdown_timeout": -1}), "server.shutdown_timeout"),
        (lambda r: r.update(server={"thread_pool_size": 0}), "server.thread_pool_size"),
        (lambda r: r.update(outputs={"garbage_collect_interval": -1}), "outputs.garbage_collect_interval"),
        (
            lambda r: r.update(outputs={"files": {"files_descriptor_close_timeout": 0}}),
            "outputs.files.files_descriptor_close_timeout",
        ),
        (
            lambda r: r.update(monitoring={"listen_address": "a", "listen_port": 99999}),
            "monitoring.listen_port",
        ),
        (
            lambda r: r.update(
                monitoring={"listen_address": "a", "listen_port": 1, "machines_refresh_interval": 0}
            ),
            "monitoring.machines_refresh_interval",
        ),
        (lambda r: r.update(logging={"verbosity": "loud"}), "logging.verbosity"),
        (lambda r: r["database"].update(type="sqlite"), "database.type"),
        (
            lambda r: r.update(
                database={"type": "Postgres", "host": "h", "dbname": "d", "user": "u", "port": 0}
            ),
            "database.port",
        ),
        (
            lambda r: r.update(
                database={"type": "Postgres", "host": "h", "dbname": "d", "user": "u", "max_chunk_size": 0}
            ),
            "database.max_chunk_size",
        ),
        (
            lambda r: r.update(
                database={"type": "Postgres", "host": "h", "dbname": "d", "user": "u", "ssl_mode": "require"}
            ),
            "database.ssl_mode",
        ),
        (
            lambda r: r["collectors"][0].update(authentication={"type": "NTLM"}),
            "collectors[0].authentication.type",
        ),
    ],
)
def test_out_of_range_value_names_the_key(change: Callable[[dict[str, Any]], object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(_with(change))
    assert f"'{key}'" in str(info.value)


# --- required keys ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("database"), "[database]"),
        (lambda r: r["database"].pop("type"), "'database.type'"),
        (lambda r: r["database"].pop("path"), "'database.path'"),
        (lambda r: r.update(database={"type": "Postgres", "dbname": "d", "user": "u"}), "'database.host'"),
        (lambda r: r.update(database={"type": "Postgres", "host": "h", "user": "u"}), "'database.dbname'"),
        (lambda r: r.update(database={"type": "Postgres", "host": "h", "dbname": "d"}), "'database.user'"),
        (lambda r: r.pop("collectors"), "[[collectors]]"),
        (lambda r: r.update(collectors=[]), "[[collectors]]"),
        (lambda r: r["collectors"][0].pop("listen_address"), "'collectors[0].listen_address'"),
        (lambda r: r["collectors"][0].pop("authentication"), "'collectors[0].authentication'"),
        (lambda r: r["collectors"][0]["authentication"].pop("type"), "'collectors[0].authentication.type'"),
        (lambda r: r.update(monitoring={"listen_port": 9090}), "'monitoring.listen_address'"),
        (lambda r: r.update(monitoring={"listen_address": "127.0.0.1"}), "'monitoring.listen_port'"),
    ],
)
def test_missing_required_key_is_named(change: Callable[[dict[str, Any]], object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(_with(change))
    assert message in str(info.value)


TLS_KEYS = ("ca_certificate", "server_certificate", "server_private_key")


@pytest.mark.parametrize("missing", TLS_KEYS)
def test_tls_collector_requires_its_three_pem_files(missing: str) -> None:
    auth = {"type": "Tls", **{k: f"/etc/wec/{k}.pem" for k in TLS_KEYS if k != missing}}

    with pytest.raises(ConfigError, match=f"'collectors\\[0\\].authentication.{missing}'"):
        parse_settings(_with(lambda r: r["collectors"][0].update(authentication=auth)))


@pytest.mark.parametrize("key", TLS_KEYS)
def test_tls_key_on_a_kerberos_collector_is_refused(key: str) -> None:
    auth = {"type": "Kerberos", key: "/etc/wec/x.pem"}

    with pytest.raises(ConfigError, match=f"'collectors\\[0\\].authentication.{key}'"):
        parse_settings(_with(lambda r: r["collectors"][0].update(authentication=auth)))


def test_kerberos_without_service_principal_name_is_allowed() -> None:
    s = parse_settings(_minimal())

    assert s.collectors[0].authentication == AuthSettings(type="Kerberos", service_principal_name=None)


def test_duplicate_listen_address_and_port_is_refused() -> None:
    twin = {"listen_address": "127.0.0.1", "listen_port": 5985, "authentication": {"type": "Kerberos"}}

    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:5985"):
        parse_settings(_with(lambda r: r["collectors"].append(twin)))


def test_same_port_on_two_addresses_is_allowed() -> None:
    other = {"listen_address": "127.0.0.2", "authentication": {"type": "Kerberos"}}
    same_address_other_port = {
        "listen_address": "127.0.0.1",
        "listen_port": 5986,
        "authentication": {"type": "Kerberos"},
    }

    s = parse_settings(_with(lambda r: r["collectors"].extend([other, same_address_other_port])))

    assert [(c.listen_address, c.listen_port) for c in s.collectors] == [
        ("127.0.0.1", 5985),
        ("127.0.0.2", 5985),
        ("127.0.0.1", 5986),
    ]


def test_monitoring_section_present_means_enabled_with_defaults() -> None:
    s = parse_settings(
        _with(lambda r: r.update(monitoring={"listen_address": "0.0.0.0", "listen_port": 9090}))
    )

    assert s.monitoring == MonitoringSettings(listen_address="0.0.0.0", listen_port=9090)
    assert s.monitoring.http_request_duration_buckets == (
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    )  # fmt: skip
    assert s.monitoring.machines_refresh_interval == 30.0
    assert not s.monitoring.count_input_events_per_machine


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    s = parse_settings(_with(lambda r: r.update(server={"db_sync_interval": 2, "shutdown_timeout": 1.5})))

    assert s.server.db_sync_interval == 2.0
    assert isinstance(s.server.db_sync_interval, float)
    assert s.server.shutdown_timeout == 1.5


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "\n[server\n")

    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(path, environ={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", environ={})


# --- environment overrides ----------------------------------------------------------------


def test_environment_overrides_are_typed_through_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)

    s = load_settings(path, environ={"WEC_SERVER__DB_SYNC_INTERVAL": "10", "WEC_LOGGING__VERBOSITY": "debug"})

    assert s.server.db_sync_interval == 10.0
    assert s.logging.verbosity == "debug"


def test_environment_override_replaces_a_value_from_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\ndb_sync_interval = 3\nnode_name = "a"\n' + MINIMAL)

    s = load_settings(
        path, environ={"WEC_SERVER__DB_SYNC_INTERVAL": "7", "WEC_SERVER__TCP_KEEPALIVE_PROBES": "4"}
    )

    assert s.server.db_sync_interval == 7.0
    assert s.server.tcp_keepalive_probes == 4
    assert s.server.node_name == "a"  # the rest of the section stays


def test_environment_override_of_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)

    with pytest.raises(ConfigError, match=r"'server\.heartbeats_queue_size'"):
        load_settings(path, environ={"WEC_SERVER__HEARTBEATS_QUEUE_SIZE": "true"})


def test_environment_override_with_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)

    with pytest.raises(ConfigError, match=r"'server\.foo'"):
        load_settings(path, environ={"WEC_SERVER__FOO": "1"})


def test_other_wec_variables_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    plain = load_settings(path, environ={})

    s = load_settings(
        path,
        environ={
            "WEC_VECTORS": "/work/shared/vectors",
            "WEC_FOO": "1",
            "WEC_FOO__BAR": "2",
            "WEC_SERVR__KEYTAB": "x",
            "WEC_": "3",
            "WEC_CONFIG": "/nowhere.toml",
        },
    )

    assert s == plain


def test_process_environment_is_used_and_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, MINIMAL)
    monkeypatch.setenv("WEC_SERVER__FLUSH_HEARTBEATS_INTERVAL", "9")
    monkeypatch.setenv("WEC_VECTORS", "/somewhere")
    before = dict(os.environ)

    s = load_settings(path)

    assert s.server.flush_heartbeats_interval == 9.0
    assert dict(os.environ) == before


def test_explicit_environ_ignores_process_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, MINIMAL)
    monkeypatch.setenv("WEC_SERVER__FLUSH_HEARTBEATS_INTERVAL", "9")

    s = load_settings(path, environ={})

    assert s.server.flush_heartbeats_interval == 5.0
    assert os.environ["WEC_SERVER__FLUSH_HEARTBEATS_INTERVAL"] == "9"


def test_wec_config_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, MINIMAL)
    monkeypatch.setenv("WEC_CONFIG", str(path))

    assert load_settings().source == str(path)


def test_process_environment_overrides_are_validated_like_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, MINIMAL)
    monkeypatch.setenv("WEC_SERVER__FOO", "1")

    with pytest.raises(ConfigError, match=r"'server\.foo'"):
        load_settings(path)


def test_nested_override_below_a_section(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + '\n[outputs.kafka.options]\n"bootstrap.servers" = "k1:9092"\n')

    s = load_settings(path, environ={"WEC_OUTPUTS__FILES__FILES_DESCRIPTOR_CLOSE_TIMEOUT": "30"})

    assert s.outputs.files_descriptor_close_timeout == 30.0
    assert s.outputs.kafka_options == {"bootstrap.servers": "k1:9092"}


def test_the_collectors_list_is_replaced_whole_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)

    s = load_settings(
        path,
        environ={
            "WEC_COLLECTORS": '[{listen_address = "127.0.0.9", listen_port = 5999, '
            'authentication = {type = "Kerberos"}}]'
        },
    )

    assert [(c.listen_address, c.listen_port) for c in s.collectors] == [("127.0.0.9", 5999)]


def test_only_the_named_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No other file joins in: not a `.local` sibling, not one named by dynaconf's own variables.
    path = _write(tmp_path, '[server]\nnode_name = "main"\n' + MINIMAL)
    _write(tmp_path, '[server]\nnode_name = "local"\n', name="wec.local.toml")
    other = _write(tmp_path, '[server]\nnode_name = "other"\nthread_pool_size = 3\n', name="other.toml")
    monkeypatch.setenv("SETTINGS_FILE_FOR_DYNACONF", str(other))
    monkeypatch.setenv("INCLUDES_FOR_DYNACONF", str(other))

    s = load_settings(path)

    assert s.server.node_name == "main"
    assert s.server.thread_pool_size == 32


def test_a_relative_path_is_taken_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state").mkdir()
    path = _write(tmp_path / "state", MINIMAL)
    monkeypatch.chdir(tmp_path)

    s = load_settings("state/wec.toml", environ={})

    assert s.source == str(path)
    assert s.database.path == str(tmp_path / "state" / "wec.sqlite")
    with pytest.raises(ConfigError, match=f"not found: {re.escape(str(tmp_path / 'absent.toml'))}$"):
        load_settings("absent.toml", environ={})


def test_known_keys_are_the_dataclass_fields() -> None:
    # The types, the required keys and the key list all come from the dataclasses.
    with pytest.raises(ConfigError) as info:
        parse_settings(_with(lambda r: r.update(server={"foo": 1})))

    known = ", ".join(sorted(f.name for f in dataclasses.fields(ServerSettings)))
    assert f"(known keys: {known})" in str(info.value)


@pytest.mark.parametrize(
    "cls",
    [
        ServerSettings,
        LoggingSettings,
        DatabaseSettings,
        CollectorSettings,
        AuthSettings,
        CliSettings,
        OutputsSettings,
        MonitoringSettings,
    ],
)
def test_docs_list_every_settings_key(cls: type) -> None:
    text = (ROOT / "docs" / "settings.md").read_text()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            continue  # a table: its keys are listed
        key = f.metadata.get("toml") or f.name
        assert f"`{key}`" in text or f"`{cls.__name__[:-8].lower()}.{key}`" in text, key


# --- relative paths -----------------------------------------------------------------------


def test_relative_paths_start_from_the_file_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nkeytab = "keys/http.keytab"\n' + MINIMAL)

    s = load_settings(path, environ={})

    assert s.database.path == str(tmp_path / "wec.sqlite")
    assert s.server.keytab == str(tmp_path / "keys" / "http.keytab")
    assert s.server.state_dir == str(tmp_path)


def test_relative_paths_start_from_state_dir(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = _write(tmp_path / "etc", '[server]\nstate_dir = "../state"\nkeytab = "http.keytab"\n' + MINIMAL)

    s = load_settings(path, environ={})

    state = (tmp_path / "state").resolve()
    assert s.server.state_dir == str(state)
    assert s.database.path == str(state / "wec.sqlite")
    assert s.server.keytab == str(state / "http.keytab")


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[server]\nstate_dir = "/var/lib/wec"\nkeytab = "/etc/wec/http.keytab"\n'
        + MINIMAL.replace('"wec.sqlite"', '"/srv/db/wec.sqlite"'),
    )

    s = load_settings(path, environ={})

    assert s.server.state_dir == "/var/lib/wec"
    assert s.server.keytab == "/etc/wec/http.keytab"
    assert s.database.path == "/srv/db/wec.sqlite"


# --- wecd --check --------------------------------------------------------------------------


def _wecd_check(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEC_")}
    return subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(config), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_wecd_check_accepts_a_good_file(tmp_path: Path, kdc: Kdc) -> None:
    from wec.store import open_store

    path = _write(tmp_path, f'[server]\nkeytab = "{kdc.service_keytab}"\n' + MINIMAL)
    store = open_store(load_settings(path, environ={}).database)
    store.init()
    store.close()

    result = _wecd_check(path)

    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_wecd_check_refuses_a_keytab_without_the_spn(tmp_path: Path, kdc: Kdc) -> None:
    from wec.store import open_store

    text = f'[server]\nkeytab = "{kdc.service_keytab}"\n' + MINIMAL.replace(
        'type = "Kerberos"',
        'type = "Kerberos"\nservice_principal_name = "HTTP/elsewhere.test.local@WEC.TEST"',
    )
    path = _write(tmp_path, text)
    store = open_store(load_settings(path, environ={}).database)
    store.init()
    store.close()

    result = _wecd_check(path)

    assert result.returncode == 2
    assert "Kerberos configuration" in result.stderr


def test_wecd_check_names_the_bad_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        MINIMAL.replace("[collectors.authentication]", "listen_prot = 5985\n\n[collectors.authentication]"),
    )

    result = _wecd_check(path)

    assert result.returncode == 2
    assert "collectors[0].listen_prot" in result.stderr


def test_the_older_openwec_histogram_key_is_accepted() -> None:
    raw = _minimal()
    raw["monitoring"] = {
        "listen_address": "127.0.0.1",
        "listen_port": 9090,
        "http_requests_histogram_buckets": [0.1, 1],
    }
    settings = parse_settings(raw)
    assert settings.monitoring is not None
    assert settings.monitoring.http_request_duration_buckets == (0.1, 1.0)


def test_crl_file_is_a_tls_key() -> None:
    auth = {"type": "Kerberos", "crl_file": "/etc/wec/crl.pem"}
    with pytest.raises(ConfigError, match="crl_file' is a Tls key"):
        parse_settings(_with(lambda r: r["collectors"][0].update(authentication=auth)))
    tls = {"type": "Tls", **{k: f"/etc/wec/{k}.pem" for k in TLS_KEYS}, "crl_file": "/etc/wec/crl.pem"}
    s = parse_settings(_with(lambda r: r["collectors"][0].update(authentication=tls)))
    assert s.collectors[0].authentication.crl_file == "/etc/wec/crl.pem"


def test_relative_tls_files_start_from_state_dir(tmp_path: Path) -> None:
    path = tmp_path / "wec.toml"
    path.write_text(
        '[server]\nstate_dir = "/var/lib/wec"\n[database]\ntype = "SQLite"\npath = "db.sqlite"\n'
        '[[collectors]]\nlisten_address = "0.0.0.0"\nlisten_port = 5986\n'
        '[collectors.authentication]\ntype = "Tls"\nca_certificate = "tls/ca.pem"\n'
        'server_certificate = "/etc/wec/server.crt"\nserver_private_key = "tls/server.key"\n'
        'crl_file = "tls/crl.pem"\n'
    )
    auth = load_settings(path, environ={}).collectors[0].authentication
    assert auth.ca_certificate == "/var/lib/wec/tls/ca.pem"
    assert auth.server_certificate == "/etc/wec/server.crt"
    assert auth.server_private_key == "/var/lib/wec/tls/server.key"
    assert auth.crl_file == "/var/lib/wec/tls/crl.pem"
