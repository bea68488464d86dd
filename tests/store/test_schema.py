# SPDX-License-Identifier: GPL-3.0-or-later
"""Schema versions and migrations, on every backend (a real SQLite file, a real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.store.conftest import SQLITE_ONLY, OpenDb
from wec.store import DatabaseSettings, open_store
from wec.store._migrations import load_migrations, postgres_migrations, split_sql, sqlite_migrations
from wec.store.base import Migration, SchemaMismatch, Store, StoreError
from wec.store.postgres import PostgresStore
from wec.store.sqlite import SQLiteStore

# The shipped schema history; the tests below add their own steps after LATEST.
ALL = [m.version for m in sqlite_migrations()]
LATEST = ALL[-1]

Tables = Callable[[], set[str]]


def _shipped(backend: str) -> list[Migration]:
    return sqlite_migrations() if backend == "sqlite" else postgres_migrations()


def test_both_backends_share_the_version_numbers_and_names() -> None:
    assert [(m.version, m.name) for m in postgres_migrations()] == [
        (m.version, m.name) for m in sqlite_migrations()
    ]


def test_every_backend_satisfies_the_store_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_a_new_database_has_no_schema_and_refuses_to_serve(open_db: OpenDb) -> None:
    s = open_db()
    assert s.schema_version() is None
    assert [m.version for m in s.migrations_pending()] == ALL
    with pytest.raises(SchemaMismatch, match=r"not initialised.*wec db init"):
        s.check_schema()


def test_init_creates_the_latest_schema_and_is_idempotent(open_db: OpenDb, db_tables: Tables) -> None:
    s = open_db()
    s.init()
    s.init()
    assert s.schema_version() == s.latest_version() == sqlite_migrations()[-1].version
    assert s.migrations_pending() == []
    s.check_schema()
    assert {"meta", "subscriptions", "bookmarks", "heartbeats"} <= db_tables()


def test_migrations_go_up_down_and_up_again(open_db: OpenDb, db_tables: Tables, make_sub) -> None:  # type: ignore[no-untyped-def]
    s = open_db()
    assert [m.version for m in s.upgrade()] == ALL
    s.put_subscription(make_sub())
    assert [m.version for m in s.downgrade(0)] == ALL[::-1]
    assert s.schema_version() is None
    assert db_tables() == set()
    assert [m.version for m in s.upgrade()] == ALL
    assert s.list_subscriptions() == []
    s.check_schema()


@pytest.mark.parametrize("start", range(1, LATEST))
def test_upgrade_from_each_older_version_keeps_the_data(  # type: ignore[no-untyped-def]
    open_db: OpenDb, start: int, make_sub, put_old_subscription
) -> None:
    s = open_db()
    assert [m.version for m in s.upgrade(start)] == list(range(1, start + 1))
    with pytest.raises(SchemaMismatch, match="wec db upgrade"):
        s.check_schema()
    sub = make_sub()
    put_old_subscription(sub)  # as the wec of that version wrote it (version 1 already had them)
    assert [m.version for m in s.upgrade()] == list(range(start + 1, LATEST + 1))
    s.check_schema()
    assert s.list_subscriptions() == [sub]
    assert s.request_reload(sub.uuid) == 1  # what the newer versions added works


def _extra_migrations(backend: str) -> list[Migration]:
    return [
        *_shipped(backend),
        Migration(LATEST + 1, "notes", "CREATE TABLE notes (x TEXT);", "DROP TABLE notes;"),
        Migration(
            LATEST + 2, "more", "ALTER TABLE notes ADD COLUMN y TEXT;", "ALTER TABLE notes DROP COLUMN y;"
        ),
    ]


def test_upgrade_and_downgrade_stop_at_the_requested_version(
    open_db: OpenDb, db_tables: Tables, backend: str
) -> None:
    s = open_db(migrations=_extra_migrations(backend))
    assert [m.version for m in s.upgrade(LATEST + 1)] == [*ALL, LATEST + 1]
    assert s.schema_version() == LATEST + 1
    assert [m.version for m in s.migrations_pending()] == [LATEST + 2]
    with pytest.raises(
        SchemaMismatch, match=rf"version {LATEST + 1}, this wec needs {LATEST + 2}.*wec db upgrade"
    ):
        s.check_schema()
    assert [m.version for m in s.upgrade()] == [LATEST + 2]
    assert [m.version for m in s.downgrade(LATEST)] == [LATEST + 2, LATEST + 1]
    assert s.schema_version() == LATEST
    assert "notes" not in db_tables()
    assert s.upgrade(LATEST) == []


def test_a_failing_migration_is_rolled_back_entirely(
    open_db: OpenDb, db_tables: Tables, backend: str
) -> None:
    broken = [
        *_shipped(backend),
        Migration(LATEST + 1, "broken", "CREATE TABLE ok (x TEXT);\nSELECT * FROM missing;", None),
    ]
    s = open_db(migrations=broken)
    with pytest.raises(StoreError, match=f"{LATEST + 1:04d}_broken"):
        s.upgrade()
    assert s.schema_version() == LATEST
    assert "ok" not in db_tables()


def test_a_migration_without_down_script_cannot_be_undone(open_db: OpenDb, backend: str) -> None:
    s = open_db(
        migrations=[*_shipped(backend), Migration(LATEST + 1, "oneway", "CREATE TABLE t (x TEXT);", None)],
    )
    s.upgrade()
    with pytest.raises(StoreError, match="cannot be undone"):
        s.downgrade(LATEST)
    assert s.schema_version() == LATEST + 1


def test_a_database_newer_than_the_code_is_a_schema_mismatch(open_db: OpenDb, backend: str) -> None:
    newer = open_db(migrations=_extra_migrations(backend))
    newer.init()
    newer.close()
    older = open_db()
    assert older.schema_version() == LATEST + 2
    with pytest.raises(
        SchemaMismatch, match=rf"version {LATEST + 2}, newer than this wec knows \({LATEST}\)"
    ):
        older.check_schema()
    with pytest.raises(SchemaMismatch):
        older.upgrade()
    assert older.migrations_pending() == []


def test_upgrade_to_an_unknown_version_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="cannot upgrade to version 9"):
        store.upgrade(9)
    with pytest.raises(StoreError):
        store.downgrade(-1)


@pytest.mark.parametrize("shipped", [sqlite_migrations, postgres_migrations])
def test_the_shipped_migrations_are_numbered_and_reversible(shipped: Callable[[], list[Migration]]) -> None:
    ms = shipped()
    assert [m.version for m in ms] == list(range(1, len(ms) + 1))
    assert all(m.down is not None for m in ms)
    for m in ms:
        assert "BEGIN" not in m.up.upper().split("--")[0]


def test_migration_files_with_a_gap_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x);")
    (tmp_path / "0003_c.sql").write_text("CREATE TABLE c (x);")
    with pytest.raises(StoreError, match="without gaps"):
        load_migrations(tmp_path.iterdir())


def test_split_sql_keeps_trigger_bodies_whole() -> None:
    script = """-- a comment
CREATE TABLE t (x);
CREATE TRIGGER tr AFTER INSERT ON t BEGIN
  UPDATE t SET x = 1;
  UPDATE t SET x = 2;
END;
-- trailing comment
"""
    statements = split_sql(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(StoreError, match="incomplete"):
        split_sql("CREATE TABLE t (x)")


@SQLITE_ONLY
def test_the_database_runs_in_wal_mode_with_foreign_keys(store: SQLiteStore) -> None:
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_in_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="file"):
        SQLiteStore(":memory:")


def test_a_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match=r"garbage\.db"):
        SQLiteStore(str(bad)).schema_version()


def test_a_closed_store_raises_store_error(open_db: OpenDb) -> None:
    s = open_db()
    s.init()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.list_subscriptions()


def test_open_store_builds_sqlite_from_settings(db_path: str) -> None:
    s = open_store(DatabaseSettings(type="SQLite", path=db_path))
    assert isinstance(s, SQLiteStore) and s.path == db_path
    s.close()


def test_open_store_builds_postgres_from_settings_without_connecting() -> None:
    s = open_store(DatabaseSettings(type="Postgres", host="db.invalid", dbname="wec"), pool_size=7)
    assert isinstance(s, PostgresStore) and s.pool_size == 7
    s.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (DatabaseSettings(type="SQLite"), "needs a path"),
        (DatabaseSettings(type="Redis"), "unknown"),
        (DatabaseSettings(type="Postgres", dbname="wec"), "needs host and dbname"),
        (DatabaseSettings(type="Postgres", host="db", dbname="wec", ssl_mode="VerifyFull"), "ssl_mode"),
    ],
)
def test_open_store_rejects_incomplete_settings(settings: DatabaseSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(settings)
