# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed WS-Management messages, named after the spec's nouns (h11 style).

The parser (``wec.protocol.parse``) turns a decoded SOAP envelope into one of these; the
service decides what to do; the builder (``wec.protocol.build``) writes the response.
All are frozen: a message is a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "End",
    "Enumerate",
    "EventsBatch",
    "Header",
    "Heartbeat",
    "Message",
    "SubscriptionEnd",
]


@dataclass(frozen=True)
class Header:
    """The SOAP header fields a collector uses (docs/protocol.md §3.2). Text values are trimmed."""

    action: str
    message_id: str  # verbatim, e.g. "uuid:6C1F0B2E-..." (echoed byte-for-byte in RelatesTo)
    to: str | None = None
    reply_to: str | None = None
    resource_uri: str | None = None
    machine_id: str | None = None  # unauthenticated: never use it as an identity
    max_envelope_size: int | None = None
    locale: str | None = None
    data_locale: str | None = None
    operation_id: str | None = None
    # Reference parameters echoed by the source (OpenWEC scheme): e:Identifier, Version, Revision.
    identifier: str | None = None
    version: str | None = None
    revision: str | None = None
    ack_requested: bool = False


@dataclass(frozen=True)
class Enumerate:
    header: Header


@dataclass(frozen=True)
class End:
    header: Header


@dataclass(frozen=True)
class Heartbeat:
    header: Header


@dataclass(frozen=True)
class EventsBatch:
    header: Header
    # Each item is one event's XML text (the CDATA payload), as received, after the
    # invalid-XML-character substitution of docs/protocol.md §3.8 when it was needed.
    events: tuple[str, ...] = ()
    # The <BookmarkList> XML verbatim, or None when the source sent no w:Bookmark.
    bookmark: str | None = None


@dataclass(frozen=True)
class SubscriptionEnd:
    header: Header
    status: str | None = None
    fault_code: str | None = None
    fault_machine: str | None = None
    fault_message: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


Message = Enumerate | End | Heartbeat | EventsBatch | SubscriptionEnd
