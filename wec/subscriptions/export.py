# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec subscriptions export``/``import``: subscriptions as one JSON document.

The export is OpenWEC's export document (schema V2, :mod:`wec.subscriptions.openwec_dump`), so
that scripts written for ``openwec subscriptions export`` read it unchanged, with wec's own keys
beside OpenWEC's: ``format``/``version`` at the top, and in each entry ``wec``, the wec form of
the subscription — its file's tables (:func:`~wec.subscriptions.files.subscription_document`)
plus its ``revision`` — which is what wec imports, checked by exactly the rules of the files::

    {"schema": "V2", "data": {"subscriptions": [
        {"uuid": "…", "name": "…", "query": "…", "heartbeat_interval": 3600, …, "outputs": […],
         "wec": {"uuid": "…", "name": "…", "query": "…", "revision": null,
                 "options": {…}, "filter": {…}, "outputs": [{…}]}}]},
     "format": "wec-subscriptions", "version": 2}

On import, the earlier wec export (``{"format": "wec-subscriptions", "version": 1,
"subscriptions": [...]}``), a bare list of wec entries or one entry, and OpenWEC's own export
(``{"schema": "V1" | "V2", "data": …}``, see :mod:`wec.subscriptions.openwec_export`) are
accepted too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from wec.model import Subscription
from wec.subscriptions.files import SubscriptionFileError, parse_document, subscription_document
from wec.subscriptions.openwec_dump import OPENWEC_SCHEMA, openwec_entry
from wec.subscriptions.openwec_export import is_openwec_export, openwec_entries

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "dump_json", "load_json", "subscription_to_json_dict"]

EXPORT_FORMAT = "wec-subscriptions"
EXPORT_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # 1: the wec-only document, before OpenWEC's shape


def subscription_to_json_dict(sub: Subscription) -> dict[str, Any]:
    doc = subscription_document(sub)
    # The revision is not part of the file format (it comes from `load --revision`), but an
    # export must carry everything the database holds.
    return {"uuid": doc.pop("uuid"), "name": doc.pop("name"), "revision": sub.revision, **doc}


def dump_json(subs: Sequence[Subscription]) -> bytes:
    """The export document, indented, keys in file order, ending with a newline."""
    entries = [{**openwec_entry(s), "wec": subscription_to_json_dict(s)} for s in subs]
    document = {
        "schema": OPENWEC_SCHEMA,
        "data": {"subscriptions": entries},
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def _entries_of_openwec_shape(doc: dict[str, Any], source: str) -> list[Any]:
    """The entries of an export in OpenWEC's shape: wec's own form where an entry carries it
    (a wec export), else the translation of OpenWEC's (an OpenWEC export)."""
    if doc.get("format") != EXPORT_FORMAT:
        return openwec_entries(doc, source)
    data = doc.get("data")
    raw = data.get("subscriptions") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise SubscriptionFileError(f"{source}: 'data.subscriptions' must be an array")
    entries: list[Any] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("wec"), dict):
            raise SubscriptionFileError(f"{source}: subscription #{i + 1} has no 'wec' object")
        entries.append(entry["wec"])
    return entries


def load_json(data: bytes | str, *, source: str = "<json>") -> list[Subscription]:
    """Subscriptions of an export; raises :class:`SubscriptionFileError` naming the entry.

    Two entries with the same uuid or name are an error (as two files would be).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise SubscriptionFileError(f"{source}: invalid JSON: {err}") from err
    if isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT:
        version = doc.get("version")
        if version not in _READABLE_VERSIONS:
            readable = " and ".join(map(str, _READABLE_VERSIONS))
            raise SubscriptionFileError(
                f"{source}: export version {version!r}; this wec reads versions {readable}"
            )
    if is_openwec_export(doc):
        entries = _entries_of_openwec_shape(doc, source)
    elif isinstance(doc, dict) and "subscriptions" in doc:
        if doc.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
            raise SubscriptionFileError(f"{source}: not a wec export (format {doc.get('format')!r})")
        entries = doc["subscriptions"]
    elif isinstance(doc, list):
        entries = doc
    elif isinstance(doc, dict):
        entries = [doc]
    else:
        raise SubscriptionFileError(f"{source}: expected an object or an array of subscriptions")
    if not isinstance(entries, list):
        raise SubscriptionFileError(f"{source}: 'subscriptions' must be an array")
    subs: list[Subscription] = []
    seen_uuid: dict[str, int] = {}
    seen_name: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"{source}: subscription #{i + 1}"
        if not isinstance(entry, dict):
            raise SubscriptionFileError(f"{where}: must be an object")
        entry = dict(entry)
        revision = entry.pop("revision", None)
        if revision is not None and not isinstance(revision, str):
            raise SubscriptionFileError(f"{where}: 'revision' must be a string or null")
        sub = parse_document(entry, source=where, revision=revision, allow_no_outputs=True)
        for seen, key, what in ((seen_uuid, sub.uuid, "uuid"), (seen_name, sub.name, "name")):
            if key in seen:
                raise SubscriptionFileError(f"{where}: {what} {key!r} is already used by #{seen[key]}")
            seen[key] = i + 1
        subs.append(sub)
    return subs
