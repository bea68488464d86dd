# SPDX-License-Identifier: GPL-3.0-or-later
"""The driver contract. A driver takes already-formatted records and delivers them.

A driver either accepts the whole batch (returns) or raises :class:`OutputError`; it never
accepts part of a batch silently. The pipeline acknowledges a batch only when every enabled
output of the subscription accepted it (docs/design.md §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wec.formats.base import EventMeta

__all__ = ["Driver", "OutputBatch", "OutputError"]


class OutputError(Exception):
    """The driver could not deliver the batch; the collector answers 503."""


@dataclass(frozen=True)
class OutputBatch:
    """Formatted records of one Events batch for one output (one record per event)."""

    records: tuple[bytes, ...]
    meta: EventMeta
    # The events' XML as received, one per record (MongoDB's keep_raw stores it).
    raw: tuple[str, ...] | None = None


class Driver(Protocol):
    def write(self, batch: OutputBatch) -> None:
        """Deliver every record or raise OutputError."""
        ...

    def reopen(self) -> None:
        """Reopen files/connections (SIGHUP, logrotate)."""
        ...

    def close(self) -> None: ...
