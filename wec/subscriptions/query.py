# SPDX-License-Identifier: GPL-3.0-or-later
"""Event queries (``<QueryList>``, MS-WSMV §2.2.4.24): validation, channels, and the limits
that Windows enforces silently.

A query looks like::

    <QueryList>
      <Query Id="0" Path="Security">
        <Select Path="Security">*[System[(EventID=4624)]]</Select>
        <Suppress Path="Security">*[EventData[Data[@Name='LogonType']=3]]</Suppress>
      </Query>
    </QueryList>

A ``Select``/``Suppress`` without ``Path`` reads the ``Path`` of its ``Query``.

Why we care about channels: a source's bookmark lists the channels it has read. A channel
added to a query has no bookmark entry, so every source replays that channel's whole history
(docs/protocol.md §7.4) — hence :func:`added_channels`, for a warning before such an edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from wec.xmlparser import hardened_parser

__all__ = [
    "MAX_CHANNELS",
    "MAX_CLAUSES",
    "QueryError",
    "QueryInfo",
    "added_channels",
    "parse_query",
]

# Limits observed in the field (docs/protocol.md §9); above them Windows drops the query or part of it.
MAX_CHANNELS = 256
MAX_CLAUSES = 22

_OPERATOR = re.compile(r"\b(?:or|and)\b")


class QueryError(ValueError):
    """The text is not a well-formed ``<QueryList>``."""


@dataclass(frozen=True)
class QueryInfo:
    channels: tuple[str, ...]  # in order of first appearance, without duplicates (case-insensitive)
    clauses: tuple[int, ...]  # per <Query>: an estimate of its XPath clauses
    warnings: tuple[str, ...]


def _clauses(xpath: str) -> int:
    # Windows counts the terms of the XPath filter; "EventID=1 or EventID=2" is two. A bare "*"
    # is one. Approximate, as the real limit is.
    return 1 + len(_OPERATOR.findall(xpath))


_SELECT_TEXT = re.compile(r"<(Select|Suppress)\b[^>]*>(.*?)</\1\s*>", re.DOTALL)


def _xpath_hint(text: str) -> str:
    """The usual cause of a syntax error: XPath operators that XML reserves, left unescaped."""
    for match in _SELECT_TEXT.finditer(text):
        xpath = match.group(2)
        if "<" in xpath.replace("<![CDATA[", ""):
            return " — a '<' inside an XPath must be written '&lt;' (e.g. EventID &lt; 4700)"
        if re.search(r"&(?!(?:lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);)", xpath):
            return " — a '&' inside an XPath must be written '&amp;' (or use 'and')"
    return ""


def parse_query(text: str) -> QueryInfo:
    """Validate ``text`` and describe it; raises :class:`QueryError`."""
    if not text.strip():
        raise QueryError("the query is empty")
    if not text.lstrip().startswith("<"):
        raise QueryError(
            "the query must be a <QueryList>, not a bare XPath: wrap it as "
            '<QueryList><Query Id="0"><Select Path="Security">XPATH</Select></Query></QueryList>'
        )
    try:
        root = etree.fromstring(text.strip().encode("utf-8"), hardened_parser())
    except (etree.XMLSyntaxError, ValueError) as err:
        raise QueryError(f"the query is not well-formed XML: {err}{_xpath_hint(text)}") from err
    if root.getroottree().docinfo.doctype:
        raise QueryError("the query must not have a DOCTYPE")
    if etree.QName(root).localname != "QueryList":
        raise QueryError(f"the query root must be <QueryList>, not <{etree.QName(root).localname}>")

    channels: dict[str, str] = {}  # casefold -> spelling
    clauses: list[int] = []
    queries = [el for el in root if isinstance(el.tag, str)]
    if not queries:
        raise QueryError("<QueryList> holds no <Query>")
    for query in queries:
        if etree.QName(query).localname != "Query":
            raise QueryError(f"<QueryList> may hold only <Query>, not <{etree.QName(query).localname}>")
        default_path = query.get("Path")
        count = 0
        selects = 0
        for el in query:
            if not isinstance(el.tag, str):
                continue  # comments
            name = etree.QName(el).localname
            if name not in ("Select", "Suppress"):
                raise QueryError(f"<Query> may hold only <Select> and <Suppress>, not <{name}>")
            path = (el.get("Path") or default_path or "").strip()
            if not path:
                raise QueryError(f"<{name}> has no Path (and its <Query> none either)")
            channels.setdefault(path.casefold(), path)
            selects += name == "Select"
            count += _clauses(el.text or "*")
        if selects == 0:
            raise QueryError(f"<Query Id={query.get('Id')!r}> has no <Select>")
        clauses.append(count)

    warnings: list[str] = []
    if len(channels) > MAX_CHANNELS:
        warnings.append(
            f"the query reads {len(channels)} channels; Windows handles about {MAX_CHANNELS} at most"
        )
    for index, count in enumerate(clauses):
        if count > MAX_CLAUSES:
            warnings.append(
                f"<Query> #{index} has about {count} clauses; Windows rejects more than about "
                f"{MAX_CLAUSES}: split it into several <Query> elements"
            )
    return QueryInfo(tuple(channels.values()), tuple(clauses), tuple(warnings))


def added_channels(old_query: str, new_query: str) -> set[str]:
    """Channels read by ``new_query`` and not by ``old_query`` (names compared case-insensitively).

    An unparsable old query counts as reading nothing.
    """
    try:
        before = {c.casefold() for c in parse_query(old_query).channels}
    except QueryError:
        before = set()
    return {c for c in parse_query(new_query).channels if c.casefold() not in before}
