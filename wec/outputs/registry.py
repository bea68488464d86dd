# SPDX-License-Identifier: GPL-3.0-or-later
"""Driver names (as written in subscription files, PROTOCOL.md §11.2) → driver classes.

Each driver module is imported only when an output uses it, so that a missing optional
client library (confluent-kafka, pymongo, redis) affects only the outputs that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

from wec.outputs.base import Driver
from wec.outputs.context import DriverContext

__all__ = ["DRIVERS", "build_driver"]

# name → (module, class); every class has ``from_config(config, *, context)``.
DRIVERS: dict[str, tuple[str, str]] = {
    "Files": ("wec.outputs.files", "FilesDriver"),
    "Tcp": ("wec.outputs.tcp", "TcpDriver"),
    "Redis": ("wec.outputs.redis", "RedisDriver"),
    "Kafka": ("wec.outputs.kafka", "KafkaDriver"),
    "UnixDatagram": ("wec.outputs.unix", "UnixDatagramDriver"),
    "MongoDB": ("wec.outputs.mongodb", "MongoDBDriver"),
    "Relp": ("wec.outputs.relp", "RelpDriver"),
}


def build_driver(driver_name: str, config: dict[str, Any], context: DriverContext) -> Driver:
    """Build one output's driver from its ``config`` table.

    Raises ``ValueError`` for an unknown driver name or an invalid configuration (the
    message names the driver and the key), and ``ImportError`` when the driver's client
    library is not installed.
    """
    try:
        module_name, class_name = DRIVERS[driver_name]
    except KeyError:
        raise ValueError(f"unknown output driver {driver_name!r} (known: {', '.join(DRIVERS)})") from None
    module = importlib.import_module(module_name)
    driver: Driver = getattr(module, class_name).from_config(config, context=context)
    return driver
