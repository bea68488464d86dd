# SPDX-License-Identifier: GPL-3.0-or-later
"""The subscription model: every option OpenWEC knows, with OpenWEC's defaults.

This module is pure data. It is shared by the store (persistence), the protocol core (which
turns a subscription into a Subscribe envelope), the service (which applies client filters)
and the CLI. Nothing here does I/O.

Which fields a Windows source can *see* matters: only those feed the subscription version
(PROTOCOL.md §3.7), see :data:`CLIENT_VISIBLE_FIELDS`.
"""

from __future__ import annotations

import enum
import fnmatch
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLIENT_VISIBLE_FIELDS",
    "ClientFilter",
    "ContentFormat",
    "FilterKind",
    "FilterOperation",
    "OutputConfig",
    "Subscription",
]


class ContentFormat(enum.StrEnum):
    RAW = "Raw"
    RENDERED_TEXT = "RenderedText"


class FilterOperation(enum.StrEnum):
    ONLY = "Only"
    EXCEPT = "Except"


class FilterKind(enum.StrEnum):
    # The authenticated identity: Kerberos principal or TLS certificate subject CN.
    CLIENT = "Client"
    # The unauthenticated m:MachineID SOAP header (a source can write anything there).
    MACHINE_ID = "MachineID"


@dataclass(frozen=True)
class ClientFilter:
    """OpenWEC's client filter: which sources may use a subscription."""

    operation: FilterOperation
    kind: FilterKind = FilterKind.CLIENT
    targets: tuple[str, ...] = ()
    case_insensitive: bool = False
    glob: bool = False

    def _matches(self, value: str) -> bool:
        for target in self.targets:
            a, b = (value.lower(), target.lower()) if self.case_insensitive else (value, target)
            if self.glob:
                # fnmatchcase: '*' and '?' only; '[...]' classes are accepted as fnmatch does.
                if fnmatch.fnmatchcase(a, b):
                    return True
            elif a == b:
                return True
        return False

    def allows(self, client: str, machine_id: str | None) -> bool:
        """True if the source may use the subscription.

        A missing MachineID fails ``Only`` and passes ``Except`` (PROTOCOL.md §7).
        """
        value = client if self.kind is FilterKind.CLIENT else machine_id
        if value is None:
            return self.operation is FilterOperation.EXCEPT
        hit = self._matches(value)
        return hit if self.operation is FilterOperation.ONLY else not hit


@dataclass(frozen=True)
class OutputConfig:
    """One output of a subscription: a driver (where) × a format (which bytes)."""

    driver: str  # "Files" | "Tcp" | "Redis" | "Kafka" | "UnixDatagram" | "MongoDB" | "Relp"
    format: str  # "Raw" | "RawJson" | "Json" | "Nxlog"
    config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def key(self) -> str:
        """A stable text identity for comparing outputs across reloads."""
        import json

        return json.dumps(
            {"d": self.driver, "f": self.format, "c": self.config, "e": self.enabled},
            sort_keys=True,
            default=str,
        )


# Fields a Windows source sees in its Subscribe envelope; a change to any of them must change
# the subscription version so that sources re-subscribe (and nothing else should).
CLIENT_VISIBLE_FIELDS: tuple[str, ...] = (
    "name",
    "query",
    "heartbeat_interval",
    "connection_retry_count",
    "connection_retry_interval",
    "max_time",
    "max_elements",
    "max_envelope_size",
    "read_existing_events",
    "content_format",
    "ignore_channel_error",
    "locale",
    "data_locale",
)


@dataclass(frozen=True)
class Subscription:
    """A subscription with all of OpenWEC's options (PROTOCOL.md §7, §11.2)."""

    uuid: str  # canonical form: lowercase with dashes, as OpenWEC stores it
    name: str
    query: str  # a <QueryList> XML document
    uri: str | None = None
    heartbeat_interval: int = 3600
    connection_retry_count: int = 5
    connection_retry_interval: int = 60
    max_time: int = 30
    max_elements: int | None = None
    max_envelope_size: int = 512000
    read_existing_events: bool = False
    content_format: ContentFormat = ContentFormat.RAW
    ignore_channel_error: bool = True
    locale: str | None = None
    data_locale: str | None = None
    enabled: bool = True
    revision: str | None = None
    filter: ClientFilter | None = None
    outputs: tuple[OutputConfig, ...] = ()

    @property
    def uuid_upper(self) -> str:
        return self.uuid.upper()

    def is_offerable(self) -> bool:
        """Enabled and with at least one enabled output (PROTOCOL.md §3.4)."""
        return self.enabled and any(o.enabled for o in self.outputs)

    def allows(self, client: str, machine_id: str | None) -> bool:
        return self.filter is None or self.filter.allows(client, machine_id)

    @staticmethod
    def new_uuid() -> str:
        return str(uuidlib.uuid4())

    @staticmethod
    def canonical_uuid(value: str) -> str:
        """Normalise any UUID spelling; raises ValueError if it is not a UUID."""
        return str(uuidlib.UUID(value.strip()))
