# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings that would make a failed write look like a delivery are refused when the output is
built (so at ``wec subscriptions load`` too): MongoDB ``w=0``, Kafka ``acks=0``; unless the
output says ``allow_unacknowledged = true`` (docs/outputs.md, "Settings that void the
guarantee")."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from wec.outputs.context import DriverContext
from wec.outputs.registry import build_driver

pytest.importorskip("pymongo")
pytest.importorskip("confluent_kafka")

MONGO = "mongodb://127.0.0.1:1/"


def check(driver: str, config: dict[str, Any], **context: Any) -> None:
    """Build (and close) the driver the way ``wec subscriptions load`` does."""
    ctx = DriverContext(format_name="Json", check_only=True, logger=logging.getLogger("t"), **context)
    build_driver(driver, config, ctx).close()


class TestMongoDB:
    @pytest.mark.parametrize("w", [0, "0"])
    def test_write_concern_0_is_refused(self, w: Any) -> None:
        with pytest.raises(ValueError, match=r"MongoDB: write_concern = 0 makes failed writes invisible"):
            check("MongoDB", {"uri": MONGO, "write_concern": w})

    @pytest.mark.parametrize(
        "uri",
        [MONGO + "?w=0", MONGO + "?replicaSet=rs0&w=0", MONGO + "?W=0", "mongodb://a,b/?appname=x;w=0"],
    )
    def test_w_0_in_the_uri_is_refused(self, uri: str) -> None:
        with pytest.raises(ValueError, match=r"MongoDB: w=0 in the uri makes failed writes invisible"):
            check("MongoDB", {"uri": uri})

    def test_the_outputs_write_concern_overrides_the_uri(self) -> None:
        check("MongoDB", {"uri": MONGO + "?w=0", "write_concern": "majority"})

    @pytest.mark.parametrize("config", [{"write_concern": 1}, {"write_concern": "majority"}, {}])
    def test_acknowledged_writes_are_accepted(self, config: dict[str, Any]) -> None:
        check("MongoDB", {"uri": MONGO + "?w=1", **config})

    def test_an_explicit_acknowledgement_of_the_risk_is_accepted(self) -> None:
        check("MongoDB", {"uri": MONGO, "write_concern": 0, "allow_unacknowledged": True})
        check("MongoDB", {"uri": MONGO + "?w=0", "allow_unacknowledged": True})

    def test_allow_unacknowledged_must_be_a_boolean(self) -> None:
        with pytest.raises(ValueError, match="allow_unacknowledged"):
            check("MongoDB", {"uri": MONGO, "allow_unacknowledged": "yes"})


class TestKafka:
    @pytest.mark.parametrize(
        "options", [{"acks": "0"}, {"acks": 0}, {"request.required.acks": "0"}, {"acks": " 0 "}]
    )
    def test_acks_0_is_refused(self, options: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match=r"Kafka: option (acks|request\.required\.acks) = 0"):
            check("Kafka", {"topic": "t", "options": {"bootstrap.servers": "127.0.0.1:1", **options}})

    def test_acks_0_from_the_settings_file_is_refused_too(self) -> None:
        with pytest.raises(ValueError, match="acks = 0"):
            check("Kafka", {"topic": "t"}, kafka_options={"bootstrap.servers": "127.0.0.1:1", "acks": "0"})

    def test_the_outputs_acks_overrides_the_settings(self) -> None:
        check(
            "Kafka",
            {"topic": "t", "options": {"acks": "all"}},
            kafka_options={"bootstrap.servers": "127.0.0.1:1", "acks": "0"},
        )

    @pytest.mark.parametrize("acks", ["all", "1", "-1", 1])
    def test_acknowledged_deliveries_are_accepted(self, acks: Any) -> None:
        check("Kafka", {"topic": "t", "options": {"bootstrap.servers": "127.0.0.1:1", "acks": acks}})

    def test_an_explicit_acknowledgement_of_the_risk_is_accepted(self) -> None:
        check(
            "Kafka",
            {
                "topic": "t",
                "allow_unacknowledged": True,
                "options": {"bootstrap.servers": "h:1", "acks": "0"},
            },
        )
