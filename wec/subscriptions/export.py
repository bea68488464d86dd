# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec subscriptions export``/``import``: subscriptions as one JSON document.

The JSON form of a subscription is its file's tables (:func:`~wec.subscriptions.files.
subscription_document`) plus its ``revision``, so it is checked by exactly the rules of the
files, and a JSON export can be turned back into files without translation::

    {"format": "wec-subscriptions", "version": 1,
     "subscriptions": [{"uuid": "…", "name": "…", "query": "…", "revision": null,
                        "options": {…}, "filter": {…}, "outputs": [{…}]}]}

A bare list of subscriptions, or one subscription object, are accepted on import too, and so
is OpenWEC's own export (``{"schema": "V2", "data": …}``, see
:mod:`wec.subscriptions.openwec_export`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from wec.model import Subscription
from wec.subscriptions.files import SubscriptionFileError, parse_document, subscription_document
from wec.subscriptions.openwec_export import is_openwec_export, openwec_entries

__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "dump_json", "load_json", "subscription_to_json_dict"]

EXPORT_FORMAT = "wec-subscriptions"
EXPORT_VERSION = 1


def subscription_to_json_dict(sub: Subscription) -> dict[str, Any]:
    doc = subscription_document(sub)
    # The revision is not part of the file format (it comes from `load --revision`), but an
    # export must carry everything the database holds.
    return {"uuid": doc.pop("uuid"), "name": doc.pop("name"), "revision": sub.revision, **doc}


def dump_json(subs: Sequence[Subscription]) -> bytes:
    """The export document, indented, keys in file order, ending with a newline."""
    return (
        orjson.dumps(
            {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "subscriptions": [subscription_to_json_dict(s) for s in subs],
            },
            option=orjson.OPT_INDENT_2,
        )
        + b"\n"
    )


def load_json(data: bytes | str, *, source: str = "<json>") -> list[Subscription]:
    """Subscriptions of an export; raises :class:`SubscriptionFileError` naming the entry.

    Two entries with the same uuid or name are an error (as two files would be).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise SubscriptionFileError(f"{source}: invalid JSON: {err}") from err
    if is_openwec_export(doc):
        entries = openwec_entries(doc, source)
    elif isinstance(doc, dict) and "subscriptions" in doc:
        if doc.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
            raise SubscriptionFileError(f"{source}: not a wec export (format {doc.get('format')!r})")
        version = doc.get("version", EXPORT_VERSION)
        if version != EXPORT_VERSION:
            raise SubscriptionFileError(
                f"{source}: export version {version!r}; this wec reads version {EXPORT_VERSION}"
            )
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
