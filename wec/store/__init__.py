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
    StoreUnavailable,
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
    "StoreUnavailable",
    "SubscriptionConflict",
    "UnknownSubscription",
    "open_store",
]


def open_store(settings: DatabaseSettings, *, pool_size: int = 4) -> Store:
    """Open the database named by ``settings`` (it is not migrated: see ``Store.init``).

    ``pool_size``: PostgreSQL connections at most (wecd passes its thread count plus its own
    background threads); SQLite opens one per thread and ignores it.
    """
    kind = settings.type.lower()
    if kind == "sqlite":
        if not settings.path:
            raise ValueError('[database] type = "SQLite" needs a path')
        return SQLiteStore(settings.path)
    if kind == "postgres":
        # Imported here: a SQLite-only installation need not load libpq.
        from wec.store.postgres import PostgresStore

        return PostgresStore(settings, pool_size=pool_size)
    raise ValueError(f'unknown [database] type {settings.type!r}: expected "SQLite" or "Postgres"')
