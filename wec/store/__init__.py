# SPDX-License-Identifier: GPL-3.0-or-later
"""Persistent state: subscriptions, bookmarks, heartbeats (see :mod:`wec.store.base`).

``open_store(settings)`` picks the backend named by the ``[database]`` settings.
"""

from __future__ import annotations

from wec.store.base import (
    BookmarkRow,
    HeartbeatRow,
    HeartbeatUpdate,
    MachineState,
    MachineStates,
    Migration,
    SchemaMismatch,
    Store,
    StoreError,
    SubscriptionConflict,
    UnknownSubscription,
)
from wec.store.heartbeats import HeartbeatQueue
from wec.store.settings import DatabaseSettings
from wec.store.sqlite import SQLiteStore

__all__ = [
    "BookmarkRow",
    "DatabaseSettings",
    "HeartbeatQueue",
    "HeartbeatRow",
    "HeartbeatUpdate",
    "MachineState",
    "MachineStates",
    "Migration",
    "SQLiteStore",
    "SchemaMismatch",
    "Store",
    "StoreError",
    "SubscriptionConflict",
    "UnknownSubscription",
    "open_store",
]


def open_store(settings: DatabaseSettings) -> Store:
    """Open the database named by ``settings`` (it is not migrated: see ``Store.init``)."""
    kind = settings.type.lower()
    if kind == "sqlite":
        if not settings.path:
            raise ValueError('[database] type = "SQLite" needs a path')
        return SQLiteStore(settings.path)
    if kind == "postgres":
        raise NotImplementedError("PostgreSQL store arrives in a later release")
    raise ValueError(f'unknown [database] type {settings.type!r}: expected "SQLite" or "Postgres"')
