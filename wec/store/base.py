# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage contract: subscriptions, bookmarks and heartbeats, and the schema that holds them.

Every backend (SQLite for one node, PostgreSQL shared by several) implements :class:`Store`
with exactly the same observable behaviour; the contract tests in ``tests/store/`` are written
against this protocol and run on both.
No SQL leaves a backend module: callers see only the dataclasses below, and every native
database error is converted once, at the boundary, into :class:`StoreError` (keeping the cause).

Time is always a timezone-aware UTC :class:`~datetime.datetime`. Backends keep microseconds,
so the ``>``/``≤`` boundaries of :func:`machine_state` are exact.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from wec.model import Subscription

__all__ = [
    "BookmarkRow",
    "HeartbeatRow",
    "HeartbeatUpdate",
    "MachineState",
    "MachineStates",
    "Migration",
    "SchemaMismatch",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SubscriptionConflict",
    "UnknownSubscription",
    "classify_machines",
    "machine_state",
    "require_utc",
]


class StoreError(Exception):
    """A storage operation failed (the native error, if any, is the ``__cause__``)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (server down, restarting, network).

    Transient: the request that needed it gets a 503 and is resent by the source; the backend
    reconnects by itself and logs the outage once, so callers need not log it again.
    """


class SchemaMismatch(StoreError):
    """The database schema is not the one this version of wec was written for.

    The server refuses to start on it; the message says which command fixes it.
    """


class UnknownSubscription(StoreError):
    """A bookmark or copy names a subscription that is not in the database."""


class SubscriptionConflict(StoreError):
    """Another subscription (a different uuid) already uses this name."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema history: ``up`` moves from ``version - 1`` to ``version``."""

    version: int
    name: str  # e.g. "init", from the file name 0001_init.sql
    up: str = field(repr=False)  # SQL script
    down: str | None = field(repr=False)  # SQL script undoing ``up``; None if it cannot be undone


@dataclass(frozen=True)
class BookmarkRow:
    """The last bookmark a source reported for a subscription (docs/protocol.md §7.4)."""

    client: str  # authenticated identity (Kerberos principal or certificate subject), not MachineID
    subscription_uuid: str
    bookmark: str  # the <BookmarkList> XML, verbatim


def require_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; naive datetimes are refused (their zone is a guess)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: pass a timezone-aware datetime")
    return when.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class HeartbeatUpdate:
    """What one or more Heartbeat/Events messages of a source tell about it.

    ``last_event_seen`` is set when at least one of them was an Events message; it is kept apart
    from ``last_seen`` so that coalescing an Events message followed by a Heartbeat does not
    date the event later than it was.
    """

    client: str
    subscription_uuid: str
    ip: str  # the address of the latest message
    last_seen: datetime  # latest Heartbeat or Events
    last_event_seen: datetime | None = None  # latest Events, if any
    first_seen: datetime | None = None  # earliest message coalesced here; None = last_seen

    @classmethod
    def single(
        cls, client: str, subscription_uuid: str, ip: str, when: datetime, is_event: bool
    ) -> HeartbeatUpdate:
        when = require_utc(when)
        return cls(client, subscription_uuid, ip, when, when if is_event else None, when)

    @property
    def is_event(self) -> bool:
        return self.last_event_seen is not None

    @property
    def key(self) -> tuple[str, str]:
        return (self.client, self.subscription_uuid)

    def merge(self, other: HeartbeatUpdate) -> HeartbeatUpdate:
        """Combine two updates of the same (client, subscription); order does not matter."""
        if other.key != self.key:
            raise ValueError("cannot merge heartbeats of different (client, subscription)")
        newer = other if other.last_seen >= self.last_seen else self
        events = [t for t in (self.last_event_seen, other.last_event_seen) if t is not None]
        return HeartbeatUpdate(
            self.client,
            self.subscription_uuid,
            newer.ip,
            newer.last_seen,
            max(events) if events else None,
            min(self.first_seen or self.last_seen, other.first_seen or other.last_seen),
        )


@dataclass(frozen=True)
class HeartbeatRow:
    """What the store knows about one source of one subscription."""

    client: str
    subscription_uuid: str
    subscription_name: str
    ip: str  # the address of the most recent message (OpenWEC's SQLite backend keeps the first)
    first_seen: datetime
    last_seen: datetime
    last_event_seen: datetime | None


class MachineState(enum.StrEnum):
    # Spelled as OpenWEC's openwec_machines{state=...} label values (docs/protocol.md §11.3).
    ACTIVE = "Active"
    ALIVE = "Alive"
    DEAD = "Dead"


def machine_state(row: HeartbeatRow, start: datetime) -> MachineState:
    """Classify one source, ``start`` being ``now - heartbeat_interval`` (docs/protocol.md §7.5).

    Strict ``>``: a source last seen exactly at ``start`` is not "after" it.
    """
    start = require_utc(start)
    if row.last_event_seen is not None and row.last_event_seen > start:
        return MachineState.ACTIVE
    if row.last_seen > start:
        return MachineState.ALIVE
    return MachineState.DEAD


@dataclass(frozen=True)
class MachineStates:
    """The sources of one subscription split by state at a given ``start``."""

    start: datetime
    active: tuple[HeartbeatRow, ...]
    alive: tuple[HeartbeatRow, ...]
    dead: tuple[HeartbeatRow, ...]

    def counts(self) -> dict[MachineState, int]:
        return {
            MachineState.ACTIVE: len(self.active),
            MachineState.ALIVE: len(self.alive),
            MachineState.DEAD: len(self.dead),
        }


def classify_machines(rows: Sequence[HeartbeatRow], start: datetime) -> MachineStates:
    """Split ``rows`` with :func:`machine_state`; shared by every backend so they cannot differ."""
    buckets: dict[MachineState, list[HeartbeatRow]] = {s: [] for s in MachineState}
    for row in rows:
        buckets[machine_state(row, start)].append(row)
    return MachineStates(
        require_utc(start),
        tuple(buckets[MachineState.ACTIVE]),
        tuple(buckets[MachineState.ALIVE]),
        tuple(buckets[MachineState.DEAD]),
    )


@runtime_checkable
class Store(Protocol):
    """Persistent state shared by every worker (and, with PostgreSQL, every node).

    Implementations are safe to call from many threads at once.
    """

    # -- schema ------------------------------------------------------------------------------
    def schema_version(self) -> int | None:
        """The schema version recorded in the database; None if it was never initialised."""
        ...

    def latest_version(self) -> int:
        """The schema version this code is written for (the last migration)."""
        ...

    def init(self) -> None:
        """Create the schema if absent and migrate it to the latest version (idempotent)."""
        ...

    def check_schema(self) -> None:
        """Raise :class:`SchemaMismatch` unless the database is exactly at the latest version."""
        ...

    def migrations_pending(self) -> list[Migration]:
        """The migrations :meth:`upgrade` would apply, in order."""
        ...

    def migrations_to_undo(self, to: int) -> list[Migration]:
        """The migrations :meth:`downgrade` to ``to`` would undo, in order (newest first)."""
        ...

    def upgrade(self, to: int | None = None) -> list[Migration]:
        """Apply migrations up to ``to`` (default: latest); returns those applied."""
        ...

    def downgrade(self, to: int) -> list[Migration]:
        """Undo migrations down to version ``to`` (0 = empty database); returns those undone."""
        ...

    # -- subscriptions -----------------------------------------------------------------------
    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription, sorted by name."""
        ...

    def get_subscription(self, uuid_or_name: str) -> Subscription | None:
        """Look a subscription up by uuid (any spelling) or, failing that, by exact name."""
        ...

    def put_subscription(self, sub: Subscription) -> None:
        """Insert or replace (by uuid). Raises :class:`SubscriptionConflict` on a taken name."""
        ...

    def delete_subscription(self, uuid: str) -> bool:
        """Delete a subscription with its bookmarks and heartbeats; False if it did not exist."""
        ...

    def subscriptions_generation(self) -> int:
        """A number that changes whenever any subscription is put or deleted.

        The server polls it every ``db_sync_interval`` and reloads only when it moved.
        """
        ...

    def request_reload(self, uuid: str | None = None) -> int:
        """Ask running servers to rebuild the outputs of one subscription (``None``: all).

        Bumps the subscription's reload counter and the generation, so servers notice at their
        next poll; the subscription itself (and so its version) is unchanged. Returns how many
        subscriptions were marked (0 if ``uuid`` names none).
        """
        ...

    def reload_counters(self) -> dict[str, int]:
        """Reload counter per subscription uuid (canonical form); absent means 0."""
        ...

    # -- bookmarks ---------------------------------------------------------------------------
    def get_bookmark(self, client: str, sub_uuid: str) -> str | None: ...

    def put_bookmark(self, client: str, sub_uuid: str, xml: str) -> None:
        """Store (replace) a bookmark. Raises :class:`UnknownSubscription`."""
        ...

    def list_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> list[BookmarkRow]: ...

    def delete_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> int:
        """Delete the matching bookmarks (all of them when both are None); returns the count."""
        ...

    def copy_bookmarks(self, src_sub: str, dst_sub: str) -> int:
        """Copy every bookmark of ``src_sub`` to ``dst_sub`` (replacing); returns the count."""
        ...

    # -- heartbeats --------------------------------------------------------------------------
    def put_heartbeats(self, updates: Sequence[HeartbeatUpdate]) -> None:
        """Upsert in one transaction.

        Per (client, subscription): ``first_seen`` becomes the minimum of stored and new (in
        practice it keeps the stored value; it moves back only for updates that arrive out of
        order, e.g. from two nodes or two threads); ``last_seen`` and ``last_event_seen`` become
        the maximum; ``ip`` is taken from the update when it is at least as recent as the stored
        ``last_seen`` (the latest address wins, unlike OpenWEC's SQLite backend which keeps the
        first). Updates for a subscription that no longer exists are dropped.
        """
        ...

    def list_heartbeats(
        self, sub_uuid: str | None = None, client: str | None = None, ip: str | None = None
    ) -> list[HeartbeatRow]: ...

    def machine_states(self, sub_uuid: str, start: datetime) -> MachineStates:
        """Active / alive / dead sources of a subscription relative to ``start`` (§7)."""
        ...

    def close(self) -> None: ...
