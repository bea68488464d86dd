# SPDX-License-Identifier: GPL-3.0-or-later
"""A real, initialised database per test, on every backend, and subscriptions to put in it.

``store`` is parametrized: each test runs on a SQLite file and on a fresh database of the
session's PostgreSQL cluster (``pg_cluster``, tests/conftest.py). Tests about one backend's
own mechanics override the parameter with :data:`SQLITE_ONLY`.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.support.postgres import PgCluster
from wec.model import OutputConfig, Subscription
from wec.store._codec import SUBSCRIPTION_COLUMNS, subscription_to_row
from wec.store.base import Store
from wec.store.postgres import PostgresStore
from wec.store.sqlite import SQLiteStore

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
BACKENDS = ("sqlite", "postgres")

# Put on a test (or module) whose subject is SQLite itself (WAL, file locks, PRAGMAs).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

_counter = itertools.count(1)

OpenDb = Callable[..., Store]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "wec.sqlite")


@pytest.fixture
def pg_database(request: pytest.FixtureRequest, backend: str) -> Iterator[str | None]:
    """This test's own PostgreSQL database (None on SQLite)."""
    if backend != "postgres":
        yield None
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.fresh_database()
    yield name
    cluster.drop_later(name)


@pytest.fixture
def open_db(
    backend: str, db_path: str, pg_database: str | None, request: pytest.FixtureRequest
) -> Iterator[OpenDb]:
    """Open another, not yet initialised, store on this test's database (closed at teardown)."""
    opened: list[Store] = []

    def open_(**kwargs: Any) -> Store:
        s: Store
        if backend == "sqlite":
            s = SQLiteStore(db_path, **kwargs)
        else:
            assert pg_database is not None
            cluster: PgCluster = request.getfixturevalue("pg_cluster")
            s = PostgresStore(cluster.settings(pg_database), **kwargs)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        s.close()


@pytest.fixture
def db_tables(
    backend: str, db_path: str, pg_database: str | None, request: pytest.FixtureRequest
) -> Callable[[], set[str]]:
    """The names of the tables in this test's database, read behind the store's back."""

    def tables() -> set[str]:
        if backend == "sqlite":
            with sqlite3.connect(db_path) as conn:
                return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        assert pg_database is not None
        conn = psycopg2.connect(**cluster.connect_kwargs(pg_database))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                return {r[0] for r in cur.fetchall()}
        finally:
            conn.close()

    return tables


@pytest.fixture
def put_old_subscription(
    backend: str, db_path: str, pg_database: str | None, request: pytest.FixtureRequest
) -> Callable[[Subscription], None]:
    """Store a subscription behind the store's back, in the columns the table has now: what
    an older wec wrote before a migration added columns (their defaults then apply)."""

    def put(sub: Subscription) -> None:
        values = dict(zip(SUBSCRIPTION_COLUMNS, subscription_to_row(sub), strict=True))
        if backend == "sqlite":
            with sqlite3.connect(db_path) as conn:
                have = {r[1] for r in conn.execute("PRAGMA table_info(subscriptions)")}
                cols = [c for c in SUBSCRIPTION_COLUMNS if c in have]
                conn.execute(
                    f"INSERT INTO subscriptions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [values[c] for c in cols],
                )
            return
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        assert pg_database is not None
        conn = psycopg2.connect(**cluster.connect_kwargs(pg_database))
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'subscriptions'"
                )
                have = {r[0] for r in cur.fetchall()}
                cols = [c for c in SUBSCRIPTION_COLUMNS if c in have]
                cur.execute(
                    f"INSERT INTO subscriptions ({', '.join(cols)}) VALUES ({', '.join('%s' for _ in cols)})",
                    [values[c] for c in cols],
                )
        finally:
            conn.close()

    return put


@pytest.fixture
def store(open_db: OpenDb) -> Store:
    s = open_db()
    s.init()
    return s


@pytest.fixture
def make_sub() -> Callable[..., Subscription]:
    def make(**overrides: Any) -> Subscription:
        n = next(_counter)
        fields: dict[str, Any] = {
            "uuid": Subscription.new_uuid(),
            "name": f"sub-{n}",
            "query": QUERY,
            "outputs": (OutputConfig("Files", "Json", {"path": f"/tmp/wec/{n}/{{ip}}"}),),
        }
        fields.update(overrides)
        return Subscription(**fields)

    return make
