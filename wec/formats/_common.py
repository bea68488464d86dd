# SPDX-License-Identifier: GPL-3.0-or-later
"""Pieces shared by the JSON formats: the metadata block and safe serialisation.

The metadata block is the same for every event of a batch, so it is built once per
:class:`EventMeta` (a small cache) and shared read-only by the events that use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from wec.formats.base import EventMeta
from wec.formats.event_xml import ErrorType, EventError

__all__ = ["dumps", "error_block", "meta_block", "meta_block_bytes", "rfc3339_utc", "scrub"]


def rfc3339_utc(t: datetime) -> str:
    """RFC 3339 in UTC with ``+00:00`` and 0, 3 or 6 fractional digits, the fewest that keep
    the value exact (chrono's ``to_rfc3339`` as OpenWEC prints it, with Python's microsecond
    resolution): ``2022-12-14T16:07:03.331+00:00``. A naive datetime is taken as UTC."""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    us = t.microsecond
    if us == 0:
        return base + "+00:00"
    if us % 1000 == 0:
        return f"{base}.{us // 1000:03d}+00:00"
    return f"{base}.{us:06d}+00:00"


def meta_block(meta: EventMeta) -> dict[str, Any]:
    """``OpenWEC`` (Json, Nxlog) / ``meta`` (RawJson) without ``Error``; docs/protocol.md §10.2.

    The returned dict is shared: callers must not modify it."""
    try:
        return _cached_meta_block(meta)
    except TypeError:  # an EventMeta that is not hashable: build it every time
        return _build_meta_block(meta)


@lru_cache(maxsize=256)
def _cached_meta_block(meta: EventMeta) -> dict[str, Any]:
    return _build_meta_block(meta)


def _build_meta_block(meta: EventMeta) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "Uuid": meta.subscription_uuid,
        "Version": meta.subscription_version,
        "Name": meta.subscription_name,
    }
    if meta.subscription_uri is not None:
        sub["Uri"] = meta.subscription_uri
    if meta.client_revision is not None:
        sub["ClientRevision"] = meta.client_revision
    if meta.server_revision is not None:
        sub["ServerRevision"] = meta.server_revision
    block: dict[str, Any] = {
        "IpAddress": meta.ip,
        "TimeReceived": rfc3339_utc(meta.time_received),
        "Principal": meta.principal,  # deprecated spelling of Client, kept for OpenWEC users
        "Client": meta.client,
        "Subscription": sub,
    }
    if meta.node is not None:
        block["Node"] = meta.node
    return block


def meta_block_bytes(meta: EventMeta) -> bytes:
    try:
        return _cached_meta_bytes(meta)
    except TypeError:
        return dumps(_build_meta_block(meta))


@lru_cache(maxsize=256)
def _cached_meta_bytes(meta: EventMeta) -> bytes:
    return dumps(_build_meta_block(meta))


def error_block(error: EventError) -> dict[str, Any]:
    block: dict[str, Any] = {"OriginalContent": error.original_content, "Type": str(error.type)}
    if error.type is not ErrorType.UNKNOWN and error.message is not None:
        block["Message"] = error.message
    return block


def scrub(s: str) -> str:
    """Replace lone surrogates (not encodable in UTF-8) by U+FFFD; pairs are joined."""
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _scrub_value(v: Any) -> Any:
    if isinstance(v, str):
        return scrub(v)
    if isinstance(v, dict):
        return {scrub(k): _scrub_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_scrub_value(x) for x in v]
    return v


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON. Strings that are not valid Unicode (lone surrogates, which a
    strict UTF-16 decoder never produces but a lenient one might) are repaired, not dropped."""
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return orjson.dumps(_scrub_value(doc))
