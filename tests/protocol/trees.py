# SPDX-License-Identifier: GPL-3.0-or-later
"""Normalised element trees, to compare our responses with Windows' by structure.

A tree becomes nested tuples ``(clark tag, attributes, text, children)``; prefixes,
namespace declarations and empty-element spelling vanish. Texts that are per-message
values (ids, addresses, versions, names, thumbprints) are masked as ``"*"``, and the
content of ``w:Filter``/``w:Bookmark`` is reduced to its root tag.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from wec.protocol import ns

AUTH_THUMBPRINT = f"{{{ns.AUTHENTICATION}}}Thumbprint"
W_OPTION = f"{{{ns.WSMAN}}}Option"
W_FILTER = f"{{{ns.WSMAN}}}Filter"
M_VERSION = f"{{{ns.SUBSCRIPTION}}}Version"
A_RELATES_TO = f"{{{ns.ADDRESSING}}}RelatesTo"
E_END_TO = f"{{{ns.EVENTING}}}EndTo"
E_NOTIFY_TO = f"{{{ns.EVENTING}}}NotifyTo"

_MASKED = {
    ns.A_MESSAGE_ID,
    A_RELATES_TO,
    ns.P_OPERATION_ID,
    M_VERSION,
    ns.E_IDENTIFIER,
    ns.VERSION,
    AUTH_THUMBPRINT,
}

Tree = tuple[str, dict[str, str], str, list[Any]]


def normalise(el: etree._Element, parent: str = "") -> Tree:
    tag = str(el.tag)
    text = el.text or ""
    if (
        tag in _MASKED
        or (tag == ns.A_ADDRESS and parent in (E_END_TO, E_NOTIFY_TO))
        or (tag == W_OPTION and el.get("Name") == "SubscriptionName")
    ):
        text = "*"
    children = [c for c in el if isinstance(c.tag, str)]
    if tag in (W_FILTER, ns.W_BOOKMARK):
        return (tag, dict(el.attrib), "", [str(c.tag) for c in children])
    return (tag, dict(el.attrib), text, [normalise(c, tag) for c in children])


def canonical_outer_header(root: etree._Element) -> None:
    """Documented differences of the outer header (docs/protocol.md §3.4, §3.6): its order is
    not significant, p:OperationID is omitted by us, and only we mark Action/SequenceId
    with s:mustUnderstand. Sort it, drop OperationID, drop attributes."""
    header = root.find(ns.S_HEADER)
    assert header is not None
    for child in list(header):
        if child.tag == ns.P_OPERATION_ID:
            header.remove(child)
        else:
            child.attrib.clear()
    header[:] = sorted(header, key=lambda c: str(c.tag))
