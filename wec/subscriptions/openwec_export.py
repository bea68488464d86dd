# SPDX-License-Identifier: GPL-3.0-or-later
"""Read what ``openwec subscriptions export`` writes, so a migration from OpenWEC can be one
``wec subscriptions import -f openwec FILE``.

OpenWEC's export is ``{"schema": "V1" | "V2", "data": {"subscriptions": [...]}}``: each entry
holds every option at the top level, a ``filter`` (``operation`` + ``princs``; newer releases
may add ``kind``/``flags``/``targets``) and ``outputs`` whose ``driver`` is an object with one
key, the driver's name, around its configuration (V1 Files used the legacy keys ``base``,
``split_on_addr_index``, ``append_node_name``, ``filename``). Each entry is turned into the
shape of wec's subscription file and then checked by exactly the file's rules.
"""

from __future__ import annotations

from typing import Any

from wec.model import OPTIONS
from wec.subscriptions.files import SubscriptionFileError

__all__ = ["OPENWEC_SCHEMAS", "is_openwec_export", "openwec_entries"]

OPENWEC_SCHEMAS = ("V1", "V2")
# OpenWEC's export holds every option at the top level of an entry, under wec's names.
_OPTIONS = tuple(o.name for o in OPTIONS)


def is_openwec_export(doc: Any) -> bool:
    return isinstance(doc, dict) and "schema" in doc and "data" in doc


def _filter(raw: Any, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SubscriptionFileError(f"{where}: 'filter' must be an object")
    operation = raw.get("operation")
    if operation is None:  # OpenWEC: no operation means no filter
        return None
    targets = raw.get("targets", raw.get("princs", []))
    out: dict[str, Any] = {
        "operation": operation,
        "targets": sorted(targets) if isinstance(targets, list) else targets,
    }
    if raw.get("kind") is not None:
        out["type"] = raw["kind"]
    if raw.get("flags"):
        out["flags"] = raw["flags"]
    return out


def _output(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("driver"), dict) or len(raw["driver"]) != 1:
        raise SubscriptionFileError(f"{where}: an output needs 'format' and a one-key 'driver' object")
    [(driver, config)] = raw["driver"].items()
    if not isinstance(config, dict):
        raise SubscriptionFileError(f"{where}: the {driver} configuration must be an object")
    # The export writes every key of the driver, absent ones as null or []; the driver's own
    # older spellings (Tcp `addr`, Files `base`…) are upgraded by the file rules.
    config = {k: v for k, v in config.items() if v is not None and v != []}
    return {
        "driver": driver,
        "format": raw.get("format"),
        "enabled": raw.get("enabled", True),
        "config": config,
    }


def openwec_entries(doc: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The entries of an OpenWEC export as wec subscription documents (plus ``revision``)."""
    schema = doc.get("schema")
    if schema not in OPENWEC_SCHEMAS:
        raise SubscriptionFileError(
            f"{source}: OpenWEC export schema {schema!r} is not one of {', '.join(OPENWEC_SCHEMAS)}"
        )
    data = doc.get("data")
    subs = data.get("subscriptions") if isinstance(data, dict) else None
    if not isinstance(subs, list):
        raise SubscriptionFileError(f"{source}: 'data.subscriptions' must be an array")
    entries: list[dict[str, Any]] = []
    for i, raw in enumerate(subs):
        where = f"{source}: subscription #{i + 1}"
        if not isinstance(raw, dict):
            raise SubscriptionFileError(f"{where}: must be an object")
        entry: dict[str, Any] = {
            "uuid": raw.get("uuid"),
            "name": raw.get("name"),
            "query": raw.get("query"),
            "revision": raw.get("revision"),
            "options": {k: raw[k] for k in _OPTIONS if raw.get(k) is not None},
            "outputs": [_output(o, where) for o in raw.get("outputs") or []],
        }
        flt = _filter(raw.get("filter"), where)
        if flt is not None:
            entry["filter"] = flt
        entries.append(entry)
    return entries
