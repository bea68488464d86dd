# SPDX-License-Identifier: GPL-3.0-or-later
"""Driver names (as written in subscription files, docs/protocol.md §11.2) → driver classes, and
the one check of an output that the file loader and the server share.

Each driver module is imported only when an output uses it, so that a missing optional
client library (confluent-kafka, pymongo, redis) affects only the outputs that need it; its
absence is a :class:`MissingClient` error that names the ``pip install 'wec[…]'`` extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from wec.formats import FORMAT_NAMES
from wec.outputs.base import Driver
from wec.outputs.context import DriverContext

__all__ = ["CLIENTS", "DRIVERS", "MissingClient", "build_driver", "validate_output"]

# name → (module, class); every class has ``from_config(config, *, context)``, and may have
# ``upgrade_config(config)``: OpenWEC's older spellings of its keys → today's keys.
DRIVERS: dict[str, tuple[str, str]] = {
    "Files": ("wec.outputs.files", "FilesDriver"),
    "Tcp": ("wec.outputs.tcp", "TcpDriver"),
    "Redis": ("wec.outputs.redis", "RedisDriver"),
    "Kafka": ("wec.outputs.kafka", "KafkaDriver"),
    "UnixDatagram": ("wec.outputs.unix", "UnixDatagramDriver"),
    "MongoDB": ("wec.outputs.mongodb", "MongoDBDriver"),
    "Relp": ("wec.outputs.relp", "RelpDriver"),
}

# Drivers whose client library is optional: name → (extra of setup.py, distribution,
# top-level modules it provides). The extras install exactly these distributions.
CLIENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Redis": ("redis", "redis", ("redis",)),
    "Kafka": ("kafka", "confluent-kafka", ("confluent_kafka",)),
    "MongoDB": ("mongodb", "pymongo", ("pymongo", "bson", "gridfs")),
}


class MissingClient(ImportError):
    """The client library of an output's driver is not installed."""

    def __init__(self, driver: str, extra: str, distribution: str) -> None:
        super().__init__(
            f"the {driver} output needs the Python package {distribution}, which is not installed: "
            f"pip install 'wec[{extra}]'"
        )
        self.driver = driver
        self.extra = extra


def _driver_class(driver_name: str) -> Any:
    try:
        module_name, class_name = DRIVERS[driver_name]
    except KeyError:
        raise ValueError(f"unknown output driver {driver_name!r} (known: {', '.join(DRIVERS)})") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        client = CLIENTS.get(driver_name)
        missing = (err.name or "").split(".")[0]
        if client is None or missing not in client[2]:
            raise  # not the optional client: a broken installation, say it as is
        extra, distribution, _ = client
        raise MissingClient(driver_name, extra, distribution) from err
    return getattr(module, class_name)


def build_driver(driver_name: str, config: dict[str, Any], context: DriverContext) -> Driver:
    """Build one output's driver from its ``config`` table.

    Raises ``ValueError`` for an unknown driver name or an invalid configuration (the
    message names the driver and the key), and :class:`MissingClient` (an ``ImportError``)
    when the driver's client library is not installed.
    """
    driver: Driver = _driver_class(driver_name).from_config(config, context=context)
    return driver


def validate_output(driver_name: str, format_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Check one ``[[outputs]]`` entry without touching what it points to; return its
    configuration in today's keys (what is stored, and what the server builds from).

    The driver itself is the one judge of its keys (unknown, missing, wrong type), so the file
    loader and the running server can never disagree about a configuration. Raises
    ``ValueError`` or :class:`MissingClient`, as :func:`build_driver`.
    """
    if format_name not in FORMAT_NAMES:
        raise ValueError(f"unknown format {format_name!r} (known: {', '.join(FORMAT_NAMES)})")
    cls = _driver_class(driver_name)
    upgrade = getattr(cls, "upgrade_config", None)
    upgraded: dict[str, Any] = dict(upgrade(config) if upgrade is not None else config)
    context = DriverContext(format_name=format_name, check_only=True)
    cls.from_config(dict(upgraded), context=context).close()
    return upgraded
