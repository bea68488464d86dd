# SPDX-License-Identifier: GPL-3.0-or-later
"""The SQLite backend: one node, one database file.

Theory of operation
-------------------
* **One connection per thread** (``threading.local``). The server runs a thread pool; in WAL
  mode readers never wait for the writer, and Python's ``sqlite3`` releases the GIL while a
  statement runs, so Enumerate threads reading bookmarks proceed while the heartbeat writer
  flushes a batch. A single shared connection behind a lock would queue every read behind that
  write. Connections of threads that have exited are closed when the next one is opened.
* **Writes** run in ``BEGIN IMMEDIATE`` transactions: the write lock is taken up front, so two
  writers never deadlock upgrading a read lock, and ``busy_timeout`` makes the loser wait instead
  of failing at once.
* ``synchronous=NORMAL`` with WAL: a power cut may lose the last commits, never corrupt the
  file. Losing a bookmark means a source resends events already delivered (duplicates), which the
  at-least-once contract allows. It cannot lose events *only because* the outputs made the
  batch durable before the bookmark was written (Files syncs each batch to disk before it is
  accepted, docs/outputs.md "Durability"). With an output that does not (Files with
  ``fsync = false``), the bookmark may reach the disk while the events it covers do not:
  after a power cut the source resumes past events that are gone.
* A failed commit (disk full, ``SQLITE_FULL``; I/O error) raises :class:`StoreError`: the
  collector then refuses the Ack (503), and the source keeps its position.
* ``foreign_keys=ON``: bookmarks and heartbeats go with their subscription.
* The schema version lives in the ``meta`` table; migrations come from ``migrations/*.sql``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from wec.model import Subscription
from wec.permissions import create_private_file
from wec.store._codec import (
    SUBSCRIPTION_COLUMNS,
    from_micros,
    subscription_from_row,
    subscription_to_row,
    to_micros,
)
from wec.store._migrations import split_sql, sqlite_migrations
from wec.store.base import (
    BookmarkRow,
    HeartbeatRow,
    HeartbeatUpdate,
    MachineStates,
    Migration,
    SchemaMismatch,
    StoreError,
    SubscriptionConflict,
    UnknownSubscription,
    classify_machines,
)

__all__ = ["SQLiteStore"]

_COLS = ", ".join(SUBSCRIPTION_COLUMNS)
_PLACEHOLDERS = ", ".join("?" for _ in SUBSCRIPTION_COLUMNS)

# "INSERT … SELECT … WHERE" + "ON CONFLICT": the WHERE both drops heartbeats of deleted
# subscriptions and resolves SQLite's parsing ambiguity between a join and ON CONFLICT.
_UPSERT_HEARTBEAT = """
INSERT INTO heartbeats (client, subscription, ip, first_seen, last_seen, last_event_seen)
SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM subscriptions WHERE uuid = ?2)
ON CONFLICT (client, subscription) DO UPDATE SET
    ip = CASE WHEN excluded.last_seen >= heartbeats.last_seen THEN excluded.ip ELSE heartbeats.ip END,
    first_seen = MIN(heartbeats.first_seen, excluded.first_seen),
    last_seen = MAX(heartbeats.last_seen, excluded.last_seen),
    last_event_seen = CASE
        WHEN excluded.last_event_seen IS NULL THEN heartbeats.last_event_seen
        WHEN heartbeats.last_event_seen IS NULL THEN excluded.last_event_seen
        ELSE MAX(heartbeats.last_event_seen, excluded.last_event_seen)
    END
"""

_SELECT_HEARTBEATS = """
SELECT h.client, h.subscription, s.name, h.ip, h.first_seen, h.last_seen, h.last_event_seen
FROM heartbeats AS h JOIN subscriptions AS s ON s.uuid = h.subscription
"""


def _canon(value: str) -> str:
    """A uuid in canonical form; anything else unchanged (so it simply matches nothing)."""
    try:
        return Subscription.canonical_uuid(value)
    except ValueError:
        return value


def _where(filters: dict[str, str | None]) -> tuple[str, list[str]]:
    parts = [f"{col} = ?" for col, v in filters.items() if v is not None]
    args = [v for v in filters.values() if v is not None]
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


class SQLiteStore:
    """:class:`wec.store.base.Store` on a SQLite file."""

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 5.0,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        if path in ("", ":memory:") or path.startswith("file::memory:"):
            # Each thread has its own connection: an in-memory database would be one per thread.
            raise ValueError("SQLiteStore needs a database file, not an in-memory database")
        self.path = path
        self._busy_timeout = busy_timeout
        self._migrations = list(migrations) if migrations is not None else sqlite_migrations()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        with self._errors("open the database"):
            if not path.startswith("file:"):
                # Output settings (with credentials) live here: owner-only whatever the umask;
                # SQLite gives the -wal and -shm files the database file's mode.
                create_private_file(path)
            self._conn()  # fail here, not on first use, on a bad path or a non-database file

    # -- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            self._reap_dead_threads()
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # close() runs on another thread
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                conn.close()
                raise
            self._conns.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    def _reap_dead_threads(self) -> None:
        alive = []
        for thread, conn in self._conns:
            if thread.is_alive():
                alive.append((thread, conn))
            else:
                conn.close()
        self._conns = alive

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _, conn in self._conns:
                conn.close()
            self._conns = []
        self._local = threading.local()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as err:
            raise StoreError(f"SQLite {self.path}: cannot {doing}: {err}") from err

    @contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._errors(doing):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself fails (SQLITE_BUSY in rollback-journal mode, disk full,
                # I/O error): the transaction may still be open, holding the write lock, and
                # every later BEGIN on this connection would fail. SQLite may also have rolled
                # back already; a failing ROLLBACK must not hide the original error.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def _query(self, doing: str, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors(doing):
            return self._conn().execute(sql, args).fetchall()

    # -- schema --------------------------------------------------------------------------------
    def _version(self, conn: sqlite3.Connection) -> int | None:
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        if has_meta is None:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])

    def schema_version(self) -> int | None:
        with self._errors("read the schema version"):
            return self._version(self._conn())

    def latest_version(self) -> int:
        return self._migrations[-1].version if self._migrations else 0

    def check_schema(self) -> None:
        current = self.schema_version()
        latest = self.latest_version()
        if current == latest:
            return
        where = f"SQLite database {self.path}"
        if current is None:
            raise SchemaMismatch(f"{where} is not initialised: run `wec db init`")
        if current < latest:
            raise SchemaMismatch(
                f"{where} has schema version {current}, this wec needs {latest}: run `wec db upgrade`"
            )
        raise SchemaMismatch(
            f"{where} has schema version {current}, newer than this wec knows ({latest}): "
            f"run a newer wec, or `wec db downgrade {latest}` with the wec that upgraded it"
        )

    def migrations_pending(self) -> list[Migration]:
        current = self.schema_version() or 0
        return [m for m in self._migrations if m.version > current]

    def migrations_to_undo(self, to: int) -> list[Migration]:
        current = self.schema_version() or 0
        return [m for m in reversed(self._migrations) if to < m.version <= current]

    def init(self) -> None:
        self.upgrade(None)

    def upgrade(self, to: int | None = None) -> list[Migration]:
        target = self.latest_version() if to is None else to
        if not 0 <= target <= self.latest_version():
            raise StoreError(
                f"cannot upgrade to version {target}: known versions are 0..{self.latest_version()}"
            )
        applied: list[Migration] = []
        for m in self._migrations:
            if m.version > target:
                break
            if self._step(m, up=True):
                applied.append(m)
        return applied

    def downgrade(self, to: int) -> list[Migration]:
        if to < 0:
            raise StoreError(f"cannot downgrade to version {to}")
        undone: list[Migration] = []
        for m in reversed(self._migrations):
            if m.version <= to:
                break
            if self._step(m, up=False):
                undone.append(m)
        return undone

    def _step(self, m: Migration, *, up: bool) -> bool:
        """Apply one migration if the database is at the version just before it.

        The version is read inside the write transaction, so concurrent ``init`` runs (two
        nodes starting at once) apply each step exactly once. Returns False if there was
        nothing to do.
        """
        with self._write(f"apply migration {m.version:04d}_{m.name}") as conn:
            current = self._version(conn) or 0
            if current > self.latest_version():
                raise SchemaMismatch(
                    f"SQLite database {self.path} has schema version {current}, newer than this "
                    f"wec knows ({self.latest_version()}): refusing to migrate it"
                )
            if up and current != m.version - 1:
                return False
            if not up and current != m.version:
                return False
            script = m.up if up else m.down
            if script is None:
                raise StoreError(f"migration {m.version:04d}_{m.name} cannot be undone")
            for statement in split_sql(script):
                conn.execute(statement)
            new_version = m.version if up else m.version - 1
            if new_version > 0:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(new_version),),
                )
        return True

    # -- subscriptions -------------------------------------------------------------------------
    def _rows_to_subs(self, rows: list[tuple[Any, ...]]) -> list[Subscription]:
        return [subscription_from_row(dict(zip(SUBSCRIPTION_COLUMNS, r, strict=True))) for r in rows]

    def list_subscriptions(self) -> list[Subscription]:
        rows = self._query("list subscriptions", f"SELECT {_COLS} FROM subscriptions ORDER BY name")
        return self._rows_to_subs(rows)

    def get_subscription(self, uuid_or_name: str) -> Subscription | None:
        # By uuid first: a subscription may be named like another one's uuid.
        for column, value in (("uuid", _canon(uuid_or_name)), ("name", uuid_or_name)):
            rows = self._query(
                "read a subscription", f"SELECT {_COLS} FROM subscriptions WHERE {column} = ?", (value,)
            )
            if rows:
                return self._rows_to_subs(rows)[0]
        return None

    def put_subscription(self, sub: Subscription) -> None:
        row = subscription_to_row(sub)
        with self._write(f"store subscription {sub.name!r}") as conn:
            other = conn.execute(
                "SELECT uuid FROM subscriptions WHERE name = ? AND uuid <> ?", (sub.name, row[0])
            ).fetchone()
            if other is not None:
                raise SubscriptionConflict(f"subscription name {sub.name!r} is already used by {other[0]}")
            # An UPSERT, not INSERT OR REPLACE: REPLACE deletes the old row first, and the
            # cascade would take the subscription's bookmarks and heartbeats with it.
            updates = ", ".join(f"{c} = excluded.{c}" for c in SUBSCRIPTION_COLUMNS[1:])
            conn.execute(
                f"INSERT INTO subscriptions ({_COLS}) VALUES ({_PLACEHOLDERS}) "
                f"ON CONFLICT (uuid) DO UPDATE SET {updates}",
                row,
            )
            self._bump_generation(conn)

    def delete_subscription(self, uuid: str) -> bool:
        with self._write(f"delete subscription {uuid}") as conn:
            deleted = conn.execute("DELETE FROM subscriptions WHERE uuid = ?", (_canon(uuid),)).rowcount
            if deleted:
                self._bump_generation(conn)
        return deleted > 0

    @staticmethod
    def _bump_generation(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'subscriptions_generation'"
        )

    def subscriptions_generation(self) -> int:
        rows = self._query(
            "read the subscriptions generation",
            "SELECT value FROM meta WHERE key = 'subscriptions_generation'",
        )
        return int(rows[0][0]) if rows else 0

    def request_reload(self, uuid: str | None = None) -> int:
        # A WHERE clause is required: without it SQLite parses "ON CONFLICT" as a join constraint.
        where, args = (" WHERE true", []) if uuid is None else (" WHERE uuid = ?", [_canon(uuid)])
        with self._write("request a reload") as conn:
            marked = int(
                conn.execute(
                    "INSERT INTO subscription_reloads (subscription, counter) "
                    f"SELECT uuid, 1 FROM subscriptions{where} "
                    "ON CONFLICT (subscription) DO UPDATE SET counter = subscription_reloads.counter + 1",
                    args,
                ).rowcount
            )
            if marked:
                self._bump_generation(conn)
        return marked

    def reload_counters(self) -> dict[str, int]:
        rows = self._query("read reload counters", "SELECT subscription, counter FROM subscription_reloads")
        return {str(r[0]): int(r[1]) for r in rows}

    # -- bookmarks -----------------------------------------------------------------------------
    def get_bookmark(self, client: str, sub_uuid: str) -> str | None:
        rows = self._query(
            "read a bookmark",
            "SELECT bookmark FROM bookmarks WHERE client = ? AND subscription = ?",
            (client, _canon(sub_uuid)),
        )
        return str(rows[0][0]) if rows else None

    def put_bookmark(self, client: str, sub_uuid: str, xml: str) -> None:
        try:
            with self._write("store a bookmark") as conn:
                conn.execute(
                    "INSERT INTO bookmarks (client, subscription, bookmark) VALUES (?, ?, ?) "
                    "ON CONFLICT (client, subscription) DO UPDATE SET bookmark = excluded.bookmark",
                    (client, _canon(sub_uuid), xml),
                )
        except StoreError as err:
            if isinstance(err.__cause__, sqlite3.IntegrityError):
                raise UnknownSubscription(f"no subscription {sub_uuid}") from err.__cause__
            raise

    def list_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> list[BookmarkRow]:
        where, args = _where(
            {"subscription": None if sub_uuid is None else _canon(sub_uuid), "client": client}
        )
        rows = self._query(
            "list bookmarks",
            f"SELECT client, subscription, bookmark FROM bookmarks{where} ORDER BY subscription, client",
            args,
        )
        return [BookmarkRow(r[0], r[1], r[2]) for r in rows]

    def delete_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> int:
        where, args = _where(
            {"subscription": None if sub_uuid is None else _canon(sub_uuid), "client": client}
        )
        with self._write("delete bookmarks") as conn:
            return int(conn.execute(f"DELETE FROM bookmarks{where}", args).rowcount)

    def copy_bookmarks(self, src_sub: str, dst_sub: str) -> int:
        src, dst = _canon(src_sub), _canon(dst_sub)
        with self._write("copy bookmarks") as conn:
            for uuid in (src, dst):
                if conn.execute("SELECT 1 FROM subscriptions WHERE uuid = ?", (uuid,)).fetchone() is None:
                    raise UnknownSubscription(f"no subscription {uuid}")
            if src == dst:
                return int(
                    conn.execute("SELECT COUNT(*) FROM bookmarks WHERE subscription = ?", (src,)).fetchone()[
                        0
                    ]
                )
            return int(
                conn.execute(
                    "INSERT INTO bookmarks (client, subscription, bookmark) "
                    "SELECT client, ?, bookmark FROM bookmarks WHERE subscription = ? "
                    "ON CONFLICT (client, subscription) DO UPDATE SET bookmark = excluded.bookmark",
                    (dst, src),
                ).rowcount
            )

    # -- heartbeats ----------------------------------------------------------------------------
    def put_heartbeats(self, updates: Sequence[HeartbeatUpdate]) -> None:
        if not updates:
            return
        rows = [
            (
                u.client,
                _canon(u.subscription_uuid),
                u.ip,
                to_micros(u.first_seen or u.last_seen),
                to_micros(u.last_seen),
                None if u.last_event_seen is None else to_micros(u.last_event_seen),
            )
            for u in updates
        ]
        with self._write(f"store {len(rows)} heartbeats") as conn:
            conn.executemany(_UPSERT_HEARTBEAT, rows)

    def list_heartbeats(
        self, sub_uuid: str | None = None, client: str | None = None, ip: str | None = None
    ) -> list[HeartbeatRow]:
        where, args = _where(
            {"h.subscription": None if sub_uuid is None else _canon(sub_uuid), "h.client": client, "h.ip": ip}
        )
        rows = self._query("list heartbeats", f"{_SELECT_HEARTBEATS}{where} ORDER BY s.name, h.client", args)
        return [
            HeartbeatRow(
                client=r[0],
                subscription_uuid=r[1],
                subscription_name=r[2],
                ip=r[3],
                first_seen=from_micros(r[4]),
                last_seen=from_micros(r[5]),
                last_event_seen=None if r[6] is None else from_micros(r[6]),
            )
            for r in rows
        ]

    def machine_states(self, sub_uuid: str, start: datetime) -> MachineStates:
        return classify_machines(self.list_heartbeats(sub_uuid=sub_uuid), start)
