# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL backend: one database shared by every collector node (psycopg2).

Theory of operation
-------------------
* **A bounded pool of connections** (:class:`_Pool`), sized by the caller from the server's
  thread count, so that every request thread can hold one without waiting. Connections are
  opened lazily and never shared between threads at the same time.
* **Short transactions**: each store operation is one transaction on one pooled connection,
  committed before the connection goes back. Statements carry their values as bound
  parameters only.
* **Outages** (docs/high-availability.md): a connection that fails is thrown away together
  with the idle ones (after a server restart they are all dead), and the operation is retried
  once on a fresh connection when nothing can have been committed. If that fails too, the
  operation raises :class:`~wec.store.base.StoreUnavailable` (the request gets a 503, the
  source resends). The first failure of an outage is logged, and so is the recovery; the
  failures in between are not. While the server is unreachable, new connection attempts are
  made at most once a second, so request threads fail fast instead of each waiting for a
  connection timeout.
* **Concurrency between nodes**: rows are upserted (``INSERT … ON CONFLICT``), counters are
  incremented in place, and a transaction that loses a serialization or deadlock race is
  retried a few times. No advisory locks and no LISTEN/NOTIFY: nodes notice subscription
  changes by polling the generation counter, which CockroachDB supports too.
* **Migrations** come from ``migrations/postgres/*.sql`` with the SQLite version numbers; each
  runs in its own transaction (PostgreSQL DDL is transactional) with the version read under a
  row lock, so two nodes running ``wec db init`` at once apply each step exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from wec.model import Subscription
from wec.store._codec import (
    SUBSCRIPTION_COLUMNS,
    from_micros,
    subscription_from_row,
    subscription_to_row,
    to_micros,
)
from wec.store._migrations import postgres_migrations
from wec.store.base import (
    BookmarkRow,
    HeartbeatRow,
    HeartbeatUpdate,
    MachineStates,
    Migration,
    SchemaMismatch,
    StoreError,
    StoreUnavailable,
    SubscriptionConflict,
    UnknownSubscription,
    classify_machines,
)
from wec.store.settings import DatabaseSettings

__all__ = ["PostgresStore", "connect_kwargs"]

log = logging.getLogger("wec.store.postgres")

T = TypeVar("T")

_COLS = ", ".join(SUBSCRIPTION_COLUMNS)
_PLACEHOLDERS = ", ".join("%s" for _ in SUBSCRIPTION_COLUMNS)

_SSL_MODES = {"disable": "disable", "prefer": "prefer", "require": "require"}

# SQLSTATEs after which the whole transaction can simply run again.
_RETRY_ALWAYS = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
# Two nodes creating the schema at once: the loser sees the winner's catalog rows.
_RETRY_MIGRATION = _RETRY_ALWAYS | {"23505", "42P07", "42710"}
_RETRIES = 5

# The heartbeat upsert; "%s" after VALUES is expanded by execute_values, one row per update.
# The JOIN drops heartbeats of subscriptions deleted meanwhile; the ORDER BY takes row locks
# in key order so that two nodes flushing overlapping sources rarely deadlock.
_UPSERT_HEARTBEATS = """
INSERT INTO heartbeats (client, subscription, ip, first_seen, last_seen, last_event_seen)
SELECT v.client, v.subscription, v.ip, v.first_seen, v.last_seen, v.last_event_seen
FROM (VALUES %s) AS v (client, subscription, ip, first_seen, last_seen, last_event_seen)
JOIN subscriptions AS s ON s.uuid = v.subscription
ORDER BY v.client, v.subscription
ON CONFLICT (client, subscription) DO UPDATE SET
    ip = CASE WHEN excluded.last_seen >= heartbeats.last_seen THEN excluded.ip ELSE heartbeats.ip END,
    first_seen = LEAST(heartbeats.first_seen, excluded.first_seen),
    last_seen = GREATEST(heartbeats.last_seen, excluded.last_seen),
    last_event_seen = CASE
        WHEN excluded.last_event_seen IS NULL THEN heartbeats.last_event_seen
        WHEN heartbeats.last_event_seen IS NULL THEN excluded.last_event_seen
        ELSE GREATEST(heartbeats.last_event_seen, excluded.last_event_seen)
    END
"""
# NULLs in a VALUES list have no type of their own: cast every time column.
_HEARTBEAT_ROW = "(%s, %s, %s, %s::bigint, %s::bigint, %s::bigint)"

_SELECT_HEARTBEATS = """
SELECT h.client, h.subscription, s.name, h.ip, h.first_seen, h.last_seen, h.last_event_seen
FROM heartbeats AS h JOIN subscriptions AS s ON s.uuid = h.subscription
"""


def connect_kwargs(settings: DatabaseSettings, connect_timeout: float = 5.0) -> dict[str, Any]:
    """libpq parameters from OpenWEC's ``[database]`` keys (``ssl_mode``, ``ca_file``…)."""
    if not settings.host or not settings.dbname:
        raise ValueError('[database] type = "Postgres" needs host and dbname')
    mode = _SSL_MODES.get(settings.ssl_mode.lower())
    if mode is None:
        raise ValueError(f"[database] ssl_mode {settings.ssl_mode!r}: expected Disable, Prefer or Require")
    kwargs: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "dbname": settings.dbname,
        "sslmode": mode,
        "connect_timeout": max(1, round(connect_timeout)),
        "application_name": "wec",
        # A peer that vanished (node or database host lost) is noticed within about a minute,
        # not after the kernel's two hours.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if settings.user:
        kwargs["user"] = settings.user
    if settings.password is not None:
        kwargs["password"] = settings.password
    if settings.ca_file:
        # With a CA file libpq also checks the server certificate under "require" (as OpenWEC's
        # TLS connector does when given ca_file).
        kwargs["sslrootcert"] = settings.ca_file
    return kwargs


def _canon(value: str) -> str:
    """A uuid in canonical form; anything else unchanged (so it simply matches nothing)."""
    try:
        return Subscription.canonical_uuid(value)
    except ValueError:
        return value


def _where(filters: dict[str, str | None]) -> tuple[str, list[str]]:
    parts = [f"{col} = %s" for col, v in filters.items() if v is not None]
    args = [v for v in filters.values() if v is not None]
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


def _blob(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8", "surrogatepass")


def _one_line(err: BaseException) -> str:
    """libpq's messages span lines (a hint after a tab): one log line each."""
    return " ".join(str(err).split()) or type(err).__name__


def _is_disconnect(err: BaseException, conn: Any) -> bool:
    """True if ``err`` means the server is out of reach (as opposed to a bad statement)."""
    if not isinstance(err, psycopg2.OperationalError | psycopg2.InterfaceError):
        return False
    if conn is None or conn.closed:
        return True
    code = getattr(err, "pgcode", None) or ""
    # 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now.
    return code.startswith("08") or code in ("57P01", "57P02", "57P03")


class _Pool:
    """At most ``size`` connections; a caller waits up to ``wait`` seconds for a free one."""

    def __init__(self, connect: Callable[[], Any], size: int, wait: float) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._wait = wait
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self.size = size

    @contextmanager
    def connection(self) -> Iterator[tuple[Any, bool]]:
        """A connection and whether it was reused from the idle list (it may be stale)."""
        if not self._slots.acquire(timeout=self._wait):
            raise StoreUnavailable(f"all {self.size} database connections busy for {self._wait:.0f}s")
        try:
            with self._lock:
                if self._closed:
                    raise StoreError("the store is closed")
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            if conn is None:
                conn = self._connect()
            healthy = True
            try:
                yield conn, reused
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                healthy = False  # the connection itself may be broken: do not hand it out again
                raise
            finally:
                self._put_back(conn, healthy)
        finally:
            self._slots.release()

    def _put_back(self, conn: Any, healthy: bool) -> None:
        idle = (
            healthy
            and not conn.closed
            and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        )
        with self._lock:
            if idle and not self._closed:
                self._idle.append(conn)
                return
        with suppress(Exception):
            conn.close()

    def purge(self) -> None:
        """Close the idle connections (after a disconnect they are most likely dead too)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.purge()


class PostgresStore:
    """:class:`wec.store.base.Store` on a PostgreSQL database shared by every node."""

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        pool_size: int = 4,
        migrations: Sequence[Migration] | None = None,
        connect_timeout: float = 5.0,
        pool_wait: float = 10.0,
        retry_interval: float = 1.0,
    ) -> None:
        self._kwargs = connect_kwargs(settings, connect_timeout)
        self.where = f"PostgreSQL database {settings.dbname!r} on {settings.host}:{settings.port}"
        self.max_chunk_size = settings.max_chunk_size
        if self.max_chunk_size < 1:
            raise ValueError("[database] max_chunk_size must be at least 1")
        self._migrations = list(migrations) if migrations is not None else postgres_migrations()
        self._pool = _Pool(self._connect, pool_size, pool_wait)
        self._retry_interval = retry_interval
        self._state_lock = threading.Lock()
        self._down_since: float | None = None  # monotonic time of the first failure of an outage
        self._next_attempt = 0.0  # while down: no new connection before this monotonic time

    @property
    def pool_size(self) -> int:
        return self._pool.size

    # -- connections and outages -----------------------------------------------------------------
    def _connect(self) -> Any:
        with self._state_lock:
            if self._down_since is not None and time.monotonic() < self._next_attempt:
                raise StoreUnavailable(
                    f"{self.where} is unavailable (retrying every {self._retry_interval}s)"
                )
            self._next_attempt = time.monotonic() + self._retry_interval
        conn = psycopg2.connect(**self._kwargs)
        conn.autocommit = False
        return conn

    def _mark_down(self, err: BaseException) -> None:
        with self._state_lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
                self._next_attempt = time.monotonic() + self._retry_interval
        if first:
            log.error(
                "%s unavailable: %s; requests that need it get 503 until it is back",
                self.where,
                _one_line(err),
            )

    def _mark_up(self) -> None:
        if self._down_since is None:  # the common case, without taking the lock
            return
        with self._state_lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("%s available again after %.1fs", self.where, time.monotonic() - since)

    def close(self) -> None:
        self._pool.close()

    def _run(
        self,
        doing: str,
        work: Callable[[Any], T],
        *,
        retry_codes: frozenset[str] = _RETRY_ALWAYS,
    ) -> T:
        """Run ``work(cursor)`` in one transaction and commit; errors become StoreError."""
        attempt = 0
        while True:
            attempt += 1
            conn: Any = None
            committing = False
            try:
                with self._pool.connection() as (conn, reused):
                    try:
                        with conn.cursor() as cur:
                            result = work(cur)
                        committing = True
                        conn.commit()
                    except BaseException:
                        if not conn.closed:
                            with suppress(psycopg2.Error):
                                conn.rollback()
                        raise
                self._mark_up()
                return result
            except StoreUnavailable:
                raise
            except StoreError:
                raise
            except psycopg2.Error as err:
                if _is_disconnect(err, conn):
                    self._pool.purge()
                    # A pooled connection that died while idle (server restarted): nothing was
                    # committed, so run once more on a fresh one before calling it an outage.
                    if conn is not None and reused and not committing and attempt == 1:
                        continue
                    self._mark_down(err)
                    outcome = " (the commit may or may not have happened)" if committing else ""
                    raise StoreUnavailable(
                        f"{self.where}: cannot {doing}: {_one_line(err)}{outcome}"
                    ) from err
                self._mark_up()  # the server answered: it is up, the statement failed
                if getattr(err, "pgcode", None) in retry_codes and attempt < _RETRIES:
                    time.sleep(0.01 * attempt)
                    continue
                raise StoreError(f"{self.where}: cannot {doing}: {_one_line(err)}") from err

    def _query(self, doing: str, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def work(cur: Any) -> list[tuple[Any, ...]]:
            cur.execute(sql, tuple(args))
            return list(cur.fetchall())

        return self._run(doing, work)

    # -- schema --------------------------------------------------------------------------------
    @staticmethod
    def _version(cur: Any, *, lock: bool = False) -> int | None:
        cur.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'meta'"
        )
        if cur.fetchone() is None:
            return None
        cur.execute("SELECT value FROM meta WHERE key = 'schema_version'" + (" FOR UPDATE" if lock else ""))
        row = cur.fetchone()
        return None if row is None else int(row[0])

    def schema_version(self) -> int | None:
        return self._run("read the schema version", self._version)

    def latest_version(self) -> int:
        return self._migrations[-1].version if self._migrations else 0

    def check_schema(self) -> None:
        current = self.schema_version()
        latest = self.latest_version()
        if current == latest:
            return
        if current is None:
            raise SchemaMismatch(f"{self.where} is not initialised: run `wec db init`")
        if current < latest:
            raise SchemaMismatch(
                f"{self.where} has schema version {current}, this wec needs {latest}: run `wec db upgrade`"
            )
        raise SchemaMismatch(
            f"{self.where} has schema version {current}, newer than this wec knows ({latest}): "
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
        """Apply one migration if the database is at the version just before it (see SQLite)."""

        def work(cur: Any) -> bool:
            current = self._version(cur, lock=True) or 0
            if current > self.latest_version():
                raise SchemaMismatch(
                    f"{self.where} has schema version {current}, newer than this wec knows "
                    f"({self.latest_version()}): refusing to migrate it"
                )
            if (up and current != m.version - 1) or (not up and current != m.version):
                return False
            script = m.up if up else m.down
            if script is None:
                raise StoreError(f"migration {m.version:04d}_{m.name} cannot be undone")
            cur.execute(script)  # no parameters: the script goes as is, all statements at once
            new_version = m.version if up else m.version - 1
            if new_version > 0:
                cur.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(new_version),),
                )
            return True

        return self._run(f"apply migration {m.version:04d}_{m.name}", work, retry_codes=_RETRY_MIGRATION)

    # -- subscriptions -------------------------------------------------------------------------
    @staticmethod
    def _rows_to_subs(rows: list[tuple[Any, ...]]) -> list[Subscription]:
        return [subscription_from_row(dict(zip(SUBSCRIPTION_COLUMNS, r, strict=True))) for r in rows]

    def list_subscriptions(self) -> list[Subscription]:
        rows = self._query("list subscriptions", f"SELECT {_COLS} FROM subscriptions")
        # Sorted here, by code point as SQLite does, whatever the database's collation.
        return sorted(self._rows_to_subs(rows), key=lambda s: s.name)

    def get_subscription(self, uuid_or_name: str) -> Subscription | None:
        # By uuid first: a subscription may be named like another one's uuid.
        def work(cur: Any) -> list[tuple[Any, ...]]:
            for column, value in (("uuid", _canon(uuid_or_name)), ("name", uuid_or_name)):
                cur.execute(f"SELECT {_COLS} FROM subscriptions WHERE {column} = %s", (value,))
                rows = list(cur.fetchall())
                if rows:
                    return rows
            return []

        rows = self._run("read a subscription", work)
        return self._rows_to_subs(rows)[0] if rows else None

    def put_subscription(self, sub: Subscription) -> None:
        row = subscription_to_row(sub)
        updates = ", ".join(f"{c} = excluded.{c}" for c in SUBSCRIPTION_COLUMNS[1:])

        def work(cur: Any) -> None:
            cur.execute("SELECT uuid FROM subscriptions WHERE name = %s AND uuid <> %s", (sub.name, row[0]))
            other = cur.fetchone()
            if other is not None:
                raise SubscriptionConflict(f"subscription name {sub.name!r} is already used by {other[0]}")
            # An upsert keeps the row (and so its bookmarks and heartbeats, which cascade).
            cur.execute(
                f"INSERT INTO subscriptions ({_COLS}) VALUES ({_PLACEHOLDERS}) "
                f"ON CONFLICT (uuid) DO UPDATE SET {updates}",
                row,
            )
            self._bump_generation(cur)

        try:
            self._run(f"store subscription {sub.name!r}", work)
        except StoreError as err:
            # Another node took the name between our check and our insert.
            if isinstance(err.__cause__, psycopg2.errors.UniqueViolation):
                raise SubscriptionConflict(f"subscription name {sub.name!r} is already used") from err
            raise

    def delete_subscription(self, uuid: str) -> bool:
        def work(cur: Any) -> bool:
            cur.execute("DELETE FROM subscriptions WHERE uuid = %s", (_canon(uuid),))
            deleted = int(cur.rowcount) > 0
            if deleted:
                self._bump_generation(cur)
            return deleted

        return self._run(f"delete subscription {uuid}", work)

    @staticmethod
    def _bump_generation(cur: Any) -> None:
        cur.execute(
            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
            "WHERE key = 'subscriptions_generation'"
        )

    def subscriptions_generation(self) -> int:
        rows = self._query(
            "read the subscriptions generation",
            "SELECT value FROM meta WHERE key = 'subscriptions_generation'",
        )
        return int(rows[0][0]) if rows else 0

    def request_reload(self, uuid: str | None = None) -> int:
        where, args = ("", []) if uuid is None else (" WHERE uuid = %s", [_canon(uuid)])

        def work(cur: Any) -> int:
            cur.execute(
                "INSERT INTO subscription_reloads (subscription, counter) "
                f"SELECT uuid, 1 FROM subscriptions{where} "
                "ON CONFLICT (subscription) DO UPDATE SET counter = subscription_reloads.counter + 1",
                args,
            )
            marked = int(cur.rowcount)
            if marked:
                self._bump_generation(cur)
            return marked

        return self._run("request a reload", work)

    def reload_counters(self) -> dict[str, int]:
        rows = self._query("read reload counters", "SELECT subscription, counter FROM subscription_reloads")
        return {str(r[0]): int(r[1]) for r in rows}

    # -- bookmarks -----------------------------------------------------------------------------
    def get_bookmark(self, client: str, sub_uuid: str) -> str | None:
        rows = self._query(
            "read a bookmark",
            "SELECT bookmark FROM bookmarks WHERE client = %s AND subscription = %s",
            (client, _canon(sub_uuid)),
        )
        return _text(rows[0][0]) if rows else None

    def put_bookmark(self, client: str, sub_uuid: str, xml: str) -> None:
        def work(cur: Any) -> None:
            cur.execute(
                "INSERT INTO bookmarks (client, subscription, bookmark) VALUES (%s, %s, %s) "
                "ON CONFLICT (client, subscription) DO UPDATE SET bookmark = excluded.bookmark",
                (client, _canon(sub_uuid), _blob(xml)),
            )

        try:
            self._run("store a bookmark", work)
        except StoreError as err:
            if isinstance(err.__cause__, psycopg2.errors.ForeignKeyViolation):
                raise UnknownSubscription(f"no subscription {sub_uuid}") from err.__cause__
            raise

    def list_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> list[BookmarkRow]:
        where, args = _where(
            {"subscription": None if sub_uuid is None else _canon(sub_uuid), "client": client}
        )
        rows = self._query(
            "list bookmarks", f"SELECT client, subscription, bookmark FROM bookmarks{where}", args
        )
        return sorted(
            (BookmarkRow(r[0], r[1], _text(r[2])) for r in rows),
            key=lambda b: (b.subscription_uuid, b.client),
        )

    def delete_bookmarks(self, sub_uuid: str | None = None, client: str | None = None) -> int:
        where, args = _where(
            {"subscription": None if sub_uuid is None else _canon(sub_uuid), "client": client}
        )

        def work(cur: Any) -> int:
            cur.execute(f"DELETE FROM bookmarks{where}", args)
            return int(cur.rowcount)

        return self._run("delete bookmarks", work)

    def copy_bookmarks(self, src_sub: str, dst_sub: str) -> int:
        src, dst = _canon(src_sub), _canon(dst_sub)

        def work(cur: Any) -> int:
            for uuid in (src, dst):
                cur.execute("SELECT 1 FROM subscriptions WHERE uuid = %s", (uuid,))
                if cur.fetchone() is None:
                    raise UnknownSubscription(f"no subscription {uuid}")
            if src == dst:
                cur.execute("SELECT COUNT(*) FROM bookmarks WHERE subscription = %s", (src,))
                return int(cur.fetchone()[0])
            cur.execute(
                "INSERT INTO bookmarks (client, subscription, bookmark) "
                "SELECT client, %s, bookmark FROM bookmarks WHERE subscription = %s "
                "ON CONFLICT (client, subscription) DO UPDATE SET bookmark = excluded.bookmark",
                (dst, src),
            )
            return int(cur.rowcount)

        return self._run("copy bookmarks", work)

    # -- heartbeats ----------------------------------------------------------------------------
    def put_heartbeats(self, updates: Sequence[HeartbeatUpdate]) -> None:
        if not updates:
            return
        # One statement may not update a row twice: merge repeats of a source first.
        merged: dict[tuple[str, str], HeartbeatUpdate] = {}
        for u in updates:
            key = (u.client, _canon(u.subscription_uuid))
            if key[1] != u.subscription_uuid:  # merge() compares the uuids as spelled
                u = dataclasses.replace(u, subscription_uuid=key[1])
            previous = merged.get(key)
            merged[key] = u if previous is None else previous.merge(u)
        rows = [
            (
                client,
                sub,
                u.ip,
                to_micros(u.first_seen or u.last_seen),
                to_micros(u.last_seen),
                None if u.last_event_seen is None else to_micros(u.last_event_seen),
            )
            for (client, sub), u in sorted(merged.items())
        ]

        def work(cur: Any) -> None:
            # execute_values sends max_chunk_size rows per INSERT: a few statements for ten
            # thousand sources, all in this one transaction.
            psycopg2.extras.execute_values(
                cur, _UPSERT_HEARTBEATS, rows, template=_HEARTBEAT_ROW, page_size=self.max_chunk_size
            )

        self._run(f"store {len(rows)} heartbeats", work)

    def list_heartbeats(
        self, sub_uuid: str | None = None, client: str | None = None, ip: str | None = None
    ) -> list[HeartbeatRow]:
        where, args = _where(
            {"h.subscription": None if sub_uuid is None else _canon(sub_uuid), "h.client": client, "h.ip": ip}
        )
        rows = self._query("list heartbeats", f"{_SELECT_HEARTBEATS}{where}", args)
        heartbeats = [
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
        return sorted(heartbeats, key=lambda h: (h.subscription_name, h.client))

    def machine_states(self, sub_uuid: str, start: datetime) -> MachineStates:
        return classify_machines(self.list_heartbeats(sub_uuid=sub_uuid), start)
