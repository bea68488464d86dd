# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscription ⇄ database row, and datetime ⇄ integer microseconds; shared by every backend.

Each option of :data:`wec.model.OPTIONS` is a column of the same name; the codec follows that
list, so a new option needs only its column (a migration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from wec.model import (
    OPTIONS,
    ClientFilter,
    FilterKind,
    FilterOperation,
    OutputConfig,
    Subscription,
)
from wec.store.base import StoreError, require_utc

__all__ = [
    "SUBSCRIPTION_COLUMNS",
    "from_micros",
    "subscription_from_row",
    "subscription_to_row",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

# Column order of the subscriptions table, shared by INSERT and SELECT.
SUBSCRIPTION_COLUMNS: tuple[str, ...] = (
    "uuid",
    "name",
    "query",
    *(o.name for o in OPTIONS),
    "revision",
    "filter",
    "outputs",
)


def to_micros(when: datetime) -> int:
    # Integer arithmetic on timedelta: float timestamps would blur the exact boundaries.
    return (require_utc(when) - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _filter_to_json(f: ClientFilter | None) -> str | None:
    if f is None:
        return None
    return json.dumps(
        {
            "operation": f.operation.value,
            "type": f.kind.value,
            "targets": list(f.targets),
            "case_insensitive": f.case_insensitive,
            "glob": f.glob,
        }
    )


def _filter_from_json(text: str | None) -> ClientFilter | None:
    if text is None:
        return None
    d = json.loads(text)
    return ClientFilter(
        operation=FilterOperation(d["operation"]),
        kind=FilterKind(d["type"]),
        targets=tuple(d["targets"]),
        case_insensitive=bool(d["case_insensitive"]),
        glob=bool(d["glob"]),
    )


def _outputs_to_json(outputs: tuple[OutputConfig, ...]) -> str:
    try:
        return json.dumps(
            [
                {"driver": o.driver, "format": o.format, "enabled": o.enabled, "config": o.config}
                for o in outputs
            ]
        )
    except (TypeError, ValueError) as err:
        raise StoreError(f"output configuration is not storable as JSON: {err}") from err


def _outputs_from_json(text: str) -> tuple[OutputConfig, ...]:
    return tuple(
        OutputConfig(driver=o["driver"], format=o["format"], config=o["config"], enabled=o["enabled"])
        for o in json.loads(text)
    )


def _column_value(value: Any) -> Any:
    # SQLite has no boolean type: the schema stores 0/1.
    return int(value) if isinstance(value, bool) else value


def subscription_to_row(sub: Subscription) -> tuple[Any, ...]:
    """Values in :data:`SUBSCRIPTION_COLUMNS` order (booleans as 0/1 for SQLite)."""
    return (
        Subscription.canonical_uuid(sub.uuid),
        sub.name,
        sub.query,
        *(_column_value(o.to_plain(getattr(sub, o.name))) for o in OPTIONS),
        sub.revision,
        _filter_to_json(sub.filter),
        _outputs_to_json(sub.outputs),
    )


def subscription_from_row(row: Mapping[str, Any]) -> Subscription:
    try:
        return Subscription(
            uuid=row["uuid"],
            name=row["name"],
            query=row["query"],
            revision=row["revision"],
            filter=_filter_from_json(row["filter"]),
            outputs=_outputs_from_json(row["outputs"]),
            **{o.name: o.from_plain(row[o.name]) for o in OPTIONS},
        )
    except (KeyError, ValueError, TypeError) as err:
        raise StoreError(f"corrupt subscription row {row.get('uuid')!r}: {err}") from err
