# SPDX-License-Identifier: GPL-3.0-or-later
"""The one hardened lxml parser factory of wec.

Every XML document wec reads can come from someone else: SOAP envelopes and event payloads
from the network, subscription queries and ``wecutil`` exports from files an operator was
handed. Every parser is therefore built here, with the same defences (docs/design.md §5.3):

* no entity substitution (``resolve_entities=False``): no billion laughs, no XXE;
* no DTD loaded or validated, no network access;
* ``huge_tree`` off, which keeps libxml2's own limits on nesting depth and text-node size;
* no ``xml:id`` table (``collect_ids=False``): nothing reads it, and it costs a hash per id;
* the input is always UTF-8 bytes encoded from an already decoded ``str``, so any encoding
  declaration in the document is overridden rather than trusted.

Where a caller needs something else (dropping blank text, lxml's ``recover`` mode), it says so
with an explicit keyword; no caller can switch a defence off. Refusing a DOCTYPE outright is
left to each reader, since each reports it in its own error type.

This module is a leaf: it imports nothing of wec, so every package may use it.
"""

from __future__ import annotations

import threading

from lxml import etree

__all__ = ["hardened_parser", "thread_parser"]


def hardened_parser(*, remove_blank_text: bool = False, recover: bool = False) -> etree.XMLParser:
    """A new parser with every dangerous feature off.

    ``remove_blank_text`` drops whitespace-only text between elements (off: payloads are
    passed on verbatim); ``recover`` lets libxml2 return what it could read of a malformed
    document (off: malformed input is refused).
    """
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        collect_ids=False,
        remove_blank_text=remove_blank_text,
        remove_comments=False,
        remove_pis=False,
        recover=recover,
    )


_local = threading.local()


def thread_parser(*, remove_blank_text: bool = False, recover: bool = False) -> etree.XMLParser:
    """The calling thread's :func:`hardened_parser` for these flags, created on first use.

    lxml parser objects must not be used by two threads at once, and requests are served from
    a thread pool; building a parser per document would cost more than parsing a heartbeat.
    """
    parsers: dict[tuple[bool, bool], etree.XMLParser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    key = (remove_blank_text, recover)
    parser = parsers.get(key)
    if parser is None:
        parser = parsers[key] = hardened_parser(remove_blank_text=remove_blank_text, recover=recover)
    return parser
