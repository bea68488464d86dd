# SPDX-License-Identifier: GPL-3.0-or-later
"""What every format receives: the event's raw XML, its parsed form (once per batch), and
the metadata of the batch it came in (docs/protocol.md §10.2, the ``OpenWEC`` / ``meta`` block)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wec.formats.event_xml import ParsedEvent

__all__ = ["EventMeta", "Format"]


@dataclass(frozen=True)
class EventMeta:
    """Metadata shared by all events of one batch."""

    ip: str  # the source's IP address (after PROXY protocol, if enabled)
    time_received: datetime  # timezone-aware UTC
    principal: str  # authenticated identity: Kerberos principal or TLS subject CN
    subscription_uuid: str  # upper case
    subscription_version: str  # the version the *client* echoed (upper, no "uuid:")
    subscription_name: str
    subscription_uri: str | None = None
    client_revision: str | None = None  # the Revision the client echoed
    server_revision: str | None = None  # the revision configured now
    node: str | None = None  # server.node_name

    @property
    def client(self) -> str:
        return self.principal


class Format(Protocol):
    """An event serialiser. ``needs_parse`` tells the pipeline to parse events (once) for it."""

    name: str
    needs_parse: bool

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        """Serialise one event; None drops it from this format only (the batch still succeeds)."""
        ...
