# SPDX-License-Identifier: GPL-3.0-or-later
"""Decoded SOAP envelope text → one typed message (``wec.protocol.messages``).

Rules (docs/protocol.md §3.1–§3.5), and the statuses this project answers with. wec deliberately
answers every malformed request with a 4xx where OpenWEC sometimes says 500 (a 5xx would
tell operators "collector bug" for what is the peer's fault):

=====================================================  ======  =======
malformed input                                        wec     OpenWEC
=====================================================  ======  =======
not XML, not a SOAP 1.2 envelope, DOCTYPE/entities     400     500
a:Action missing or unknown                            400     500
a:MessageID missing                                    400     500
Heartbeat/Events without e:Identifier                  400     400
e:Identifier not a UUID                                400     500
Events without the Version reference parameter         400     400
more than ``max_events`` events in one batch           413     —
Events without w:Bookmark                              accept  500
=====================================================  ======  =======

Elements are matched on namespace URI + local name, never on the prefix. Header text values
are trimmed (Windows sends compact XML, but a lenient reader costs nothing); event payloads
are passed on untouched.
"""

from __future__ import annotations

import copy
from typing import Final

from lxml import etree

from . import ns
from ._ids import is_uuid
from .errors import RemoteProtocolError
from .messages import End, Enumerate, EventsBatch, Header, Heartbeat, Message, SubscriptionEnd
from .xml import DEFAULT_MAX_CHARS, Lifted, lift_cdata, parse_xml

__all__ = ["DEFAULT_MAX_EVENTS", "parse_message", "serialize_bookmark"]

DEFAULT_MAX_EVENTS: Final = 10000

# Header elements kept by the parser. A duplicate of any of them is refused: two a:Action or
# two e:Identifier headers would let a peer show one value to us and another to a proxy.
_HEADER_TAGS: Final = frozenset(
    {
        ns.A_TO,
        ns.A_ACTION,
        ns.A_MESSAGE_ID,
        ns.A_REPLY_TO,
        ns.W_RESOURCE_URI,
        ns.M_MACHINE_ID,
        ns.W_MAX_ENVELOPE_SIZE,
        ns.W_LOCALE,
        ns.P_DATA_LOCALE,
        ns.P_OPERATION_ID,
        ns.E_IDENTIFIER,
        ns.VERSION,
        ns.REVISION,
        ns.W_BOOKMARK,
        ns.W_ACK_REQUESTED,
    }
)


def _text(el: etree._Element | None) -> str | None:
    """The element's trimmed text, or None when absent or empty."""
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def _collect_header(header_el: etree._Element) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for child in header_el:
        tag = child.tag
        if not isinstance(tag, str) or tag not in _HEADER_TAGS:
            continue  # comments, PIs, and headers we do not use (SessionId, SequenceId, ...)
        if tag in found:
            raise RemoteProtocolError(f"duplicate SOAP header {tag}", 400)
        found[tag] = child
    return found


def _parse_int(value: str | None) -> int | None:
    # Informational only (we never enforce the peer's MaxEnvelopeSize): lenient.
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _parse_header(header_el: etree._Element) -> tuple[Header, etree._Element | None]:
    """The typed header, plus the raw w:Bookmark element (only Events use it)."""
    h = _collect_header(header_el)
    action = _text(h.get(ns.A_ACTION))
    if action is None:
        raise RemoteProtocolError("a:Action missing", 400)
    message_id = _text(h.get(ns.A_MESSAGE_ID))
    if message_id is None:
        raise RemoteProtocolError("a:MessageID missing", 400)
    reply_to_el = h.get(ns.A_REPLY_TO)
    reply_to = _text(reply_to_el.find(ns.A_ADDRESS)) if reply_to_el is not None else None
    locale_el = h.get(ns.W_LOCALE)
    data_locale_el = h.get(ns.P_DATA_LOCALE)
    identifier = _text(h.get(ns.E_IDENTIFIER))
    if identifier is not None and not is_uuid(identifier):
        # OpenWEC answers 500; it is the peer's fault, so 400 (see the module docstring).
        raise RemoteProtocolError("e:Identifier is not a UUID", 400)
    header = Header(
        action=action,
        message_id=message_id,
        to=_text(h.get(ns.A_TO)),
        reply_to=reply_to,
        resource_uri=_text(h.get(ns.W_RESOURCE_URI)),
        machine_id=_text(h.get(ns.M_MACHINE_ID)),
        max_envelope_size=_parse_int(_text(h.get(ns.W_MAX_ENVELOPE_SIZE))),
        locale=_lang(locale_el),
        data_locale=_lang(data_locale_el),
        operation_id=_text(h.get(ns.P_OPERATION_ID)),
        identifier=identifier,
        version=_text(h.get(ns.VERSION)),
        revision=_text(h.get(ns.REVISION)),
        ack_requested=ns.W_ACK_REQUESTED in h,
    )
    return header, h.get(ns.W_BOOKMARK)


def _lang(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    value = (el.get(ns.XML_LANG) or "").strip()
    return value or None


def serialize_bookmark(bookmark_el: etree._Element | None) -> str | None:
    """The ``<BookmarkList>`` child of ``w:Bookmark`` as standalone XML, or None.

    lxml would copy every namespace declaration in scope (s:, a:, w:, …) onto a serialised
    subtree; a deep copy followed by ``cleanup_namespaces`` drops the unused ones, so the
    stored text is exactly what we later insert, verbatim, into a Subscribe (docs/protocol.md §7.4).
    A w:Bookmark without a BookmarkList (empty, or text) counts as no bookmark.
    """
    if bookmark_el is None:
        return None
    bookmark_list = bookmark_el.find(ns.BOOKMARK_LIST)
    if bookmark_list is None:
        return None
    detached = copy.deepcopy(bookmark_list)
    detached.tail = None
    etree.cleanup_namespaces(detached)
    text: str = etree.tostring(detached, encoding="unicode")
    return text


def _require_identifier(header: Header) -> None:
    if header.identifier is None:
        raise RemoteProtocolError("e:Identifier missing", 400)


def _parse_events(
    header: Header,
    body: etree._Element | None,
    bookmark_el: etree._Element | None,
    *,
    max_events: int,
    require_version: bool,
    lifted: Lifted | None,
) -> EventsBatch:
    _require_identifier(header)
    if require_version and header.version is None:
        raise RemoteProtocolError("Events without the Version reference parameter", 400)
    events_el = body.find(ns.W_EVENTS) if body is not None else None
    events: list[str] = []
    if events_el is not None:
        for el in events_el.iterchildren(ns.W_EVENT):
            if len(events) >= max_events:
                raise RemoteProtocolError(f"more than {max_events} events in one batch", 413)
            # The payload (the CDATA text) verbatim: formats see what the source sent.
            events.append(el.text or "")
    if lifted is not None:
        events = _lifted_events(events, lifted)
    return EventsBatch(header=header, events=tuple(events), bookmark=serialize_bookmark(bookmark_el))


class _NotLifted(Exception):
    """The skeleton of :func:`lift_cdata` does not stand for the document: parse it whole."""


def _lifted_events(texts: list[str], lifted: Lifted) -> list[str]:
    """The events' payloads, when each w:Event's text is exactly one marker and every marker
    is the text of one w:Event (each lifted section was a w:Event's CDATA, nothing else).
    A collapsed skeleton's one w:Event stands for all of them (wec.protocol.xml.lift_cdata)."""
    markers = lifted.markers
    if lifted.collapsed:
        if len(texts) != 1 or texts[0] not in markers:
            raise _NotLifted
        return list(lifted.contents)
    if len(texts) != len(markers):
        raise _NotLifted
    out: list[str] = []
    for text in texts:
        index = markers.get(text)
        if index is None:
            raise _NotLifted
        out.append(lifted.contents[index])
    if len(set(texts)) != len(texts):
        raise _NotLifted
    return out


def _parse_subscription_end(header: Header, body: etree._Element | None) -> SubscriptionEnd:
    end_el = body.find(ns.E_SUBSCRIPTION_END) if body is not None else None
    if end_el is None:
        return SubscriptionEnd(header=header)
    extra: dict[str, str] = {}
    manager = end_el.find(ns.E_SUBSCRIPTION_MANAGER)
    if manager is not None:
        address = _text(manager.find(ns.A_ADDRESS))
        if address is not None:
            extra["subscription_manager"] = address
        for refs_tag in (ns.A_REFERENCE_PROPERTIES, ns.A_REFERENCE_PARAMETERS):
            ident = _text(manager.find(f"{refs_tag}/{ns.E_IDENTIFIER}"))
            if ident is not None:
                extra["subscription_manager_identifier"] = ident
    fault = end_el.find(ns.F_WSMAN_FAULT)
    fault_message: str | None = None
    if fault is not None:
        message_el = fault.find(ns.F_MESSAGE)
        if message_el is not None:
            fault_message = " ".join("".join(message_el.itertext()).split()) or None
    return SubscriptionEnd(
        header=header,
        status=_text(end_el.find(ns.E_STATUS)),
        fault_code=fault.get("Code") if fault is not None else None,
        fault_machine=fault.get("Machine") if fault is not None else None,
        fault_message=fault_message,
        extra=extra,
    )


def parse_message(
    text: str,
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
    max_chars: int = DEFAULT_MAX_CHARS,
    require_version: bool = True,
) -> Message:
    """Parse one decoded SOAP envelope (the text after UTF-16 decoding) into a message.

    ``require_version=False`` accepts Events without OpenWEC's ``Version`` reference
    parameter; only for reading traffic addressed to other collectors (Windows WEC echoes
    ``e:Identifier`` alone), never in the server.

    Raises :class:`RemoteProtocolError` (status 400 or 413, see the module docstring) for
    anything malformed, and nothing else.
    """
    if len(text) <= max_chars and (lifted := lift_cdata(text, max_events)) is not None:
        # An Events batch is parsed without its CDATA (the events), which libxml2 would
        # otherwise check character by character; anything else, and anything the skeleton
        # does not represent faithfully, is parsed whole below.
        try:
            message = _parse_root(
                parse_xml(lifted.skeleton, max_chars=max_chars),
                max_events=max_events,
                require_version=require_version,
                lifted=lifted,
            )
        except (RemoteProtocolError, _NotLifted):
            pass
        else:
            if isinstance(message, EventsBatch):
                return message
    return _parse_root(
        parse_xml(text, max_chars=max_chars),
        max_events=max_events,
        require_version=require_version,
        lifted=None,
    )


def _parse_root(
    root: etree._Element, *, max_events: int, require_version: bool, lifted: Lifted | None
) -> Message:
    if root.tag != ns.S_ENVELOPE:
        raise RemoteProtocolError("not a SOAP 1.2 envelope", 400)
    header_el = root.find(ns.S_HEADER)
    if header_el is None:
        raise RemoteProtocolError("s:Header missing", 400)
    header, bookmark_el = _parse_header(header_el)
    body = root.find(ns.S_BODY)
    action = header.action
    if action == ns.ACTION_ENUMERATE:
        return Enumerate(header=header)
    if action == ns.ACTION_END:
        return End(header=header)
    if action == ns.ACTION_HEARTBEAT:
        _require_identifier(header)
        return Heartbeat(header=header)
    if action == ns.ACTION_EVENTS:
        return _parse_events(
            header, body, bookmark_el, max_events=max_events, require_version=require_version, lifted=lifted
        )
    if action == ns.ACTION_SUBSCRIPTION_END:
        return _parse_subscription_end(header, body)
    raise RemoteProtocolError(f"unknown a:Action {action[:200]!r}", 400)
