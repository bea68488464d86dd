# SPDX-License-Identifier: GPL-3.0-or-later
"""What a driver may know besides its own ``config`` table, and strict reading of that table.

A driver is built from one ``[[outputs]]`` entry of a subscription (docs/outputs.md):
``driver``, ``format`` and ``config``. The ``config`` table is the driver's own; the rest of
what it needs (the node name, the ``[outputs.kafka] options`` of the settings file, the
format of its records, the process's open files, a logger) comes in a :class:`DriverContext`
built by the pipeline.

Configuration keys follow OpenWEC's names; wec adds keys and never renames (docs/design.md
§5.7). An unknown key is an error naming the key, as OpenWEC rejects unknown keys.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from wec.outputs.handles import FileHandles

__all__ = ["ConfigReader", "DriverContext"]


@dataclass(frozen=True)
class DriverContext:
    """Everything a driver needs that is not in its own ``config`` table."""

    node_name: str | None = None  # settings ``server.node_name``
    # settings ``[outputs.kafka] options``: librdkafka properties shared by all Kafka outputs
    kafka_options: Mapping[str, str] = field(default_factory=dict)
    # the output's ``format`` ("Raw" | "RawJson" | "Json" | "Nxlog"); MongoDB requires "Json"
    format_name: str | None = None
    # settings ``server.state_dir``: relative output paths (Files, UnixDatagram) start there
    base_dir: str | None = None
    # the process's open output files, shared by every Files output so that two subscriptions
    # writing one file never interleave; owned by wecd's Daemon (idle close, SIGHUP, shutdown).
    # None: each Files driver opens its own and closes them with itself.
    file_handles: FileHandles | None = None
    # validating a subscription file (wec subscriptions load): check keys and values only, do
    # not touch files or sockets that exist on the collector nodes
    check_only: bool = False
    # with check_only: the check runs on a collector with its settings (``wecd --check``), so
    # nothing may be assumed to come from elsewhere (Kafka brokers) and local files must load
    on_collector: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("wec.outputs"))


class ConfigReader:
    """Typed, strict access to one driver's ``config`` table.

    Every getter raises ``ValueError`` naming the driver and the key; :meth:`check_keys`
    rejects keys the driver does not know.
    """

    def __init__(self, driver: str, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise ValueError(f"{driver}: config must be a table, not {type(config).__name__}")
        self.driver = driver
        self.config = config

    def check_keys(self, allowed: Collection[str]) -> None:
        for key in self.config:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise ValueError(f"{self.driver}: unknown config key {key!r} (known keys: {known})")

    def error(self, key: str, message: str) -> ValueError:
        return ValueError(f"{self.driver}: config key {key!r}: {message}")

    def has(self, key: str) -> bool:
        return key in self.config

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.config.get(key)
        if value is None:
            if required:
                raise ValueError(f"{self.driver}: config key {key!r} is required")
            return default
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def required_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def integer(
        self,
        key: str,
        default: int | None = None,
        *,
        minimum: int = 0,
        maximum: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self.config.get(key)
        if value is None:
            if required:
                raise ValueError(f"{self.driver}: config key {key!r} is required")
            return default
        # TOML has real integers; a digit string is accepted too because OpenWEC's CLI
        # writes some numbers as strings. bool is an int subclass: refuse it explicitly.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise self.error(key, f"{value} is out of range ({bound})")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if value <= minimum:
            raise self.error(key, f"must be greater than {minimum}, got {value}")
        return float(value)

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.config.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def table(self, key: str) -> Mapping[str, Any] | None:
        value = self.config.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a table, got {value!r}")
        return value

    def choice(self, key: str, choices: Collection[str], default: str) -> str:
        value = self.config.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return str(value)
