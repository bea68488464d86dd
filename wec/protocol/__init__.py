# SPDX-License-Identifier: GPL-3.0-or-later
"""The WS-Management protocol core of wec: sans-IO, text in, typed messages out, text back.

Theory of operation (docs/protocol.md §1, §3):

1. The transport authenticates, unwraps, decompresses and decodes a request body to text,
   then calls :func:`parse_message`. It returns one of :class:`Enumerate`, :class:`End`,
   :class:`Heartbeat`, :class:`EventsBatch`, :class:`SubscriptionEnd`, or raises
   :class:`RemoteProtocolError` whose ``status`` (400/413) is the HTTP answer. Parsing goes
   through one hardened parser (:func:`parse_xml`): no DTD, no entities, no network.
2. The service decides. For an Enumerate it picks the subscriptions to offer, computes each
   one's :func:`subscription_version`, its :func:`notify_address` (from
   :func:`collector_host`) and the stored bookmark, and calls
   :func:`build_enumerate_response` with :class:`SubscriptionOffer` values. For a Heartbeat,
   or an Events batch all outputs accepted, it calls :func:`build_ack`.
3. The transport encodes the returned text as UTF-16LE with a BOM (§3.8) and sends it.

Nothing here does I/O, touches sockets, the store or authentication: every function is a
pure function of its arguments (plus fresh random message ids), so it is tested with
captured Windows messages alone. Our own mistakes (an impossible subscription) raise
:class:`LocalProtocolError`.
"""

from __future__ import annotations

from ._ids import is_uuid, new_message_id
from .addressing import SUBSCRIPTIONS_PATH, collector_host, notify_address, subscription_uuid_from_path
from .build import (
    KerberosPolicy,
    SubscriptionOffer,
    TlsPolicy,
    build_ack,
    build_enumerate_response,
    compact_query,
)
from .errors import LocalProtocolError, RemoteProtocolError
from .messages import End, Enumerate, EventsBatch, Header, Heartbeat, Message, SubscriptionEnd
from .parse import DEFAULT_MAX_EVENTS, parse_message, serialize_bookmark
from .version import subscription_version
from .xml import DEFAULT_MAX_CHARS, escape_invalid_xml_chars, parse_xml

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_EVENTS",
    "SUBSCRIPTIONS_PATH",
    "End",
    "Enumerate",
    "EventsBatch",
    "Header",
    "Heartbeat",
    "KerberosPolicy",
    "LocalProtocolError",
    "Message",
    "RemoteProtocolError",
    "SubscriptionEnd",
    "SubscriptionOffer",
    "TlsPolicy",
    "build_ack",
    "build_enumerate_response",
    "collector_host",
    "compact_query",
    "escape_invalid_xml_chars",
    "is_uuid",
    "new_message_id",
    "notify_address",
    "parse_message",
    "parse_xml",
    "serialize_bookmark",
    "subscription_uuid_from_path",
    "subscription_version",
]
