# SPDX-License-Identifier: GPL-3.0-or-later
"""Driver names of subscription files → drivers (wec/outputs/registry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wec.outputs.context import ConfigReader, DriverContext
from wec.outputs.kafka import KafkaDriver
from wec.outputs.mongodb import MongoDBDriver
from wec.outputs.redis import RedisDriver
from wec.outputs.registry import DRIVERS, build_driver
from wec.outputs.tcp import TcpDriver
from wec.outputs.unix import UnixDatagramDriver

CTX = DriverContext(format_name="Json", kafka_options={"bootstrap.servers": "127.0.0.1:1"})


@pytest.mark.parametrize(
    ("name", "config", "cls"),
    [
        ("Tcp", {"host": "127.0.0.1", "port": 514}, TcpDriver),
        ("Redis", {"addr": "127.0.0.1:6379", "list": "wec"}, RedisDriver),
        ("Kafka", {"topic": "wec"}, KafkaDriver),
        ("UnixDatagram", {"path": "/run/wec.sock"}, UnixDatagramDriver),
        ("MongoDB", {"uri": "mongodb://127.0.0.1:1/?directConnection=true"}, MongoDBDriver),
    ],
)
def test_builds_each_driver_from_its_config(name: str, config: dict[str, Any], cls: type) -> None:
    d = build_driver(name, config, CTX)
    try:
        assert isinstance(d, cls)
    finally:
        d.close()


def test_files_comes_from_the_files_module(tmp_path: Path) -> None:
    from wec.outputs.files import FilesDriver

    d = build_driver("Files", {"path": str(tmp_path / "{ip}" / "messages")}, CTX)
    try:
        assert isinstance(d, FilesDriver)
    finally:
        d.close()


def test_every_openwec_driver_name_is_known() -> None:
    assert {"Files", "Kafka", "Tcp", "Redis", "UnixDatagram"} <= set(DRIVERS)


def test_an_unknown_driver_is_a_value_error_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown output driver 'tcp'.*Tcp"):
        build_driver("tcp", {}, CTX)


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="Redis: unknown config key 'lists'"):
        build_driver("Redis", {"addr": "h:1", "list": "l", "lists": "x"}, CTX)


class TestConfigReader:
    def test_integers_accept_digit_strings_but_not_booleans(self) -> None:
        r = ConfigReader("X", {"a": "42", "b": True, "c": 3.5})
        assert r.integer("a") == 42
        with pytest.raises(ValueError, match="'b'"):
            r.integer("b")
        with pytest.raises(ValueError, match="'c'"):
            r.integer("c")

    def test_a_config_that_is_not_a_table(self) -> None:
        with pytest.raises(ValueError, match="config must be a table"):
            ConfigReader("X", ["a"])  # type: ignore[arg-type]

    def test_string_lists_accept_one_string(self) -> None:
        assert ConfigReader("X", {"a": "one"}).string_list("a") == ("one",)
        with pytest.raises(ValueError, match="list of strings"):
            ConfigReader("X", {"a": [1]}).string_list("a")


_KNOWN_KEYS = [
    "host", "addr", "port", "tls_enabled", "tls_certificate_authorities", "tls_certificate", "tls_key",
    "framing", "syslog", "timeout", "list", "path", "topic", "options", "uri", "database", "collection",
    "keep_raw", "ttl_days", "write_concern",
]  # fmt: skip
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(set(DRIVERS) - {"Files"})),
    config=st.dictionaries(st.sampled_from(_KNOWN_KEYS) | st.text(max_size=6), _values, max_size=5),
)
def test_any_config_builds_a_driver_or_raises_value_error(name: str, config: dict[str, Any]) -> None:
    try:
        d = build_driver(name, config, CTX)
    except ValueError:
        return
    d.close()
