# SPDX-License-Identifier: GPL-3.0-or-later
"""What only the PostgreSQL store does: outages and reconnection, chunked heartbeat upserts,
concurrent ``init`` from several nodes, OpenWEC's settings keys.

The outage tests stop and restart the session's cluster (by PID) and leave it running.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from tests.support.postgres import PgCluster, stat_statements_options
from wec.cli.main import main
from wec.config import load_settings
from wec.model import Subscription
from wec.store.base import HeartbeatUpdate, StoreError, StoreUnavailable
from wec.store.heartbeats import HeartbeatQueue
from wec.store.postgres import PostgresStore, connect_kwargs

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BOOKMARK = '<BookmarkList><Bookmark Channel="Security" RecordId="7" IsCurrent="true"/></BookmarkList>'
MakeSub = Callable[..., Subscription]


@pytest.fixture
def own_cluster(pg_cluster: PgCluster) -> PgCluster:
    """The session's cluster, which these tests stop and start again (by PID)."""
    return pg_cluster


@pytest.fixture
def own_db(own_cluster: PgCluster) -> Iterator[str]:
    own_cluster.start()  # a test that failed half-way may have left it stopped
    name = own_cluster.create_database("own")
    yield name
    own_cluster.start()
    own_cluster.drop_database(name)


@pytest.fixture
def pg(own_cluster: PgCluster, own_db: str) -> Iterator[PostgresStore]:
    s = PostgresStore(own_cluster.settings(own_db), retry_interval=0.05)
    s.init()
    yield s
    s.close()


def _outage_logs(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    records = [r for r in caplog.records if r.name == "wec.store.postgres"]
    down = sum(1 for r in records if "unavailable" in r.getMessage() and r.levelno == logging.ERROR)
    up = sum(1 for r in records if "available again" in r.getMessage())
    return down, up


def test_an_outage_gives_store_unavailable_and_the_same_store_recovers(
    pg: PostgresStore, own_cluster: PgCluster, make_sub: MakeSub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wec.store.postgres")
    sub = make_sub()
    pg.put_subscription(sub)
    pg.put_bookmark("pc", sub.uuid, BOOKMARK)
    own_cluster.stop()
    for _ in range(20):  # many requests during one outage ...
        with pytest.raises(StoreUnavailable):
            pg.get_bookmark("pc", sub.uuid)
        with pytest.raises(StoreUnavailable):
            pg.put_bookmark("pc", sub.uuid, BOOKMARK.replace("7", "8"))
    assert _outage_logs(caplog) == (1, 0)  # ... one log line
    own_cluster.start()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while True:  # the store retries connecting at most every retry_interval
        try:
            pg.put_bookmark("pc", sub.uuid, BOOKMARK.replace("7", "9"))
            break
        except StoreUnavailable:
            assert datetime.now(UTC) < deadline, "the store did not reconnect"
    assert pg.get_bookmark("pc", sub.uuid) == BOOKMARK.replace("7", "9")
    assert _outage_logs(caplog) == (1, 1)


def test_pooled_connections_killed_by_a_restart_are_replaced_without_an_error(
    pg: PostgresStore, own_cluster: PgCluster, make_sub: MakeSub, caplog: pytest.LogCaptureFixture
) -> None:
    sub = make_sub()
    pg.put_subscription(sub)
    assert pg.list_subscriptions() == [sub]  # leaves an idle connection in the pool
    own_cluster.stop()
    own_cluster.start()
    # The idle connection is dead; the store notices, reconnects and answers.
    assert pg.list_subscriptions() == [sub]
    pg.put_bookmark("pc", sub.uuid, BOOKMARK)
    assert _outage_logs(caplog) == (0, 0)


def test_a_bad_statement_is_a_store_error_not_an_outage(
    pg: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(StoreError) as info:
        pg._query("read a missing table", "SELECT * FROM no_such_table")
    assert not isinstance(info.value, StoreUnavailable)
    assert _outage_logs(caplog) == (0, 0)
    assert pg.subscriptions_generation() == 0  # the connection is usable afterwards


def test_the_heartbeat_queue_keeps_its_updates_through_an_outage(
    pg: PostgresStore, own_cluster: PgCluster, make_sub: MakeSub
) -> None:
    sub = make_sub()
    pg.put_subscription(sub)
    q = HeartbeatQueue(pg, flush_interval=3600, queue_size=1000)
    try:
        q.record("pc", sub.uuid, "10.0.0.1", T0, True)
        own_cluster.stop()
        assert q.flush() == 0
        assert q.pending == 1 and q.failures == 1
        q.record("pc", sub.uuid, "10.0.0.2", T0 + timedelta(seconds=1), False)
        own_cluster.start()
        written = 0
        for _ in range(200):
            written = q.flush()
            if written:
                break
            threading.Event().wait(0.05)
        assert written == 1
    finally:
        q.close(timeout=10)
    (row,) = pg.list_heartbeats()
    assert (row.ip, row.last_event_seen, row.last_seen) == ("10.0.0.2", T0, T0 + timedelta(seconds=1))


def _statements(cluster: PgCluster, dbname: str, like: str) -> tuple[int, int]:
    """(calls, rows) of the statements on ``dbname`` matching ``like`` (pg_stat_statements, whose
    view lives in the database where the extension was created: "postgres")."""
    conn = psycopg2.connect(**cluster.connect_kwargs("postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COALESCE(SUM(s.calls), 0), COALESCE(SUM(s.rows), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s AND s.query LIKE %s",
                (dbname, like),
            )
            calls, rows = cur.fetchone()
            return int(calls), int(rows)
    finally:
        conn.close()


def test_heartbeats_go_as_multi_row_upserts_of_max_chunk_size_rows(
    own_cluster: PgCluster, own_db: str, make_sub: MakeSub
) -> None:
    if not stat_statements_options(own_cluster.bindir):
        pytest.skip("pg_stat_statements is not installed with this PostgreSQL")
    own_cluster.admin("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    s = PostgresStore(own_cluster.settings(own_db, max_chunk_size=100))
    try:
        s.init()
        sub = make_sub()
        s.put_subscription(sub)
        updates = [
            HeartbeatUpdate.single(f"PC{i:04d}$", sub.uuid, "10.1.0.1", T0 + timedelta(seconds=i), i % 2 == 0)
            for i in range(1234)
        ]
        # A repeated source is merged before sending (one INSERT may not touch a row twice).
        updates.append(
            HeartbeatUpdate.single("PC0000$", sub.uuid, "10.9.9.9", T0 + timedelta(hours=1), False)
        )
        s.put_heartbeats(updates)
        calls, rows = _statements(own_cluster, own_db, "INSERT INTO heartbeats%")
        assert (calls, rows) == (13, 1234)  # ceil(1234 / 100) statements, not one per source
        heartbeats = {h.client: h for h in s.list_heartbeats()}
        assert len(heartbeats) == 1234
        assert heartbeats["PC0000$"].ip == "10.9.9.9"  # updated on conflict with the newer address
        assert heartbeats["PC0000$"].last_event_seen == T0
        s.put_heartbeats(
            [HeartbeatUpdate.single("PC0001$", sub.uuid, "10.2.2.2", T0 + timedelta(days=1), False)]
        )
        assert s.list_heartbeats(client="PC0001$")[0].ip == "10.2.2.2"
    finally:
        s.close()


def test_two_nodes_initialising_at_once_apply_each_migration_once(
    own_cluster: PgCluster, own_db: str
) -> None:
    stores = [PostgresStore(own_cluster.settings(own_db)) for _ in range(4)]
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(s: PostgresStore) -> None:
        try:
            barrier.wait(10)
            applied.append([m.version for m in s.upgrade()])
        except BaseException as err:  # re-raised by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        latest = stores[0].latest_version()
        assert sorted(v for versions in applied for v in versions) == list(range(1, latest + 1))
        stores[0].check_schema()
    finally:
        for s in stores:
            s.close()


def test_the_pool_never_opens_more_connections_than_its_size(
    own_cluster: PgCluster, own_db: str, make_sub: MakeSub
) -> None:
    s = PostgresStore(own_cluster.settings(own_db), pool_size=3)
    try:
        s.init()
        sub = make_sub()
        s.put_subscription(sub)
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(20):
                    s.put_bookmark(f"pc{n}", sub.uuid, f"<BookmarkList>{i}</BookmarkList>")
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        conn = psycopg2.connect(**own_cluster.connect_kwargs(own_db))
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'wec'",
                    (own_db,),
                )
                assert cur.fetchone()[0] <= 3
        finally:
            conn.close()
        assert len(s.list_bookmarks()) == 12
    finally:
        s.close()


# -- OpenWEC's settings file -------------------------------------------------------------------------
def test_openwec_postgres_keys_map_to_libpq(data_dir: Path) -> None:
    settings = load_settings(data_dir / "openwec-postgres.conf.toml", environ={})
    kwargs = connect_kwargs(settings.database)
    assert kwargs["host"] == "pg.windomain.local" and kwargs["port"] == 5433
    assert kwargs["dbname"] == "openwec" and kwargs["user"] == "openwec"
    assert kwargs["password"] == "@dm1n p@ss {not a template}"
    assert kwargs["sslmode"] == "require" and kwargs["sslrootcert"] == "/etc/openwec/pg-ca.pem"
    assert PostgresStore(settings.database).max_chunk_size == 250


def test_wec_db_init_works_from_an_openwec_settings_file(
    data_dir: Path, tmp_path: Path, pg_cluster: PgCluster
) -> None:
    dbname = pg_cluster.create_database("openwec")
    # The documented setup: an owner role for wec, its database (docs/high-availability.md).
    pg_cluster.admin("DO $$ BEGIN CREATE ROLE openwec LOGIN; EXCEPTION WHEN duplicate_object THEN END $$")
    pg_cluster.admin(f'ALTER DATABASE "{dbname}" OWNER TO openwec')
    text = (data_dir / "openwec-postgres.conf.toml").read_text()
    text = re.sub(r"(?m)^host = .*$", 'host = "127.0.0.1"', text)
    text = re.sub(r"(?m)^port = .*$", f"port = {pg_cluster.port}", text)
    text = re.sub(r"(?m)^dbname = .*$", f'dbname = "{dbname}"', text)
    text = re.sub(r"(?m)^ssl_mode = .*$", 'ssl_mode = "Prefer"', text)  # the test server has no TLS
    text = re.sub(r"(?m)^ca_file = .*$", "", text)
    config = tmp_path / "openwec.conf.toml"
    config.write_text(text)
    try:
        for argv in (["db", "init"], ["db", "status", "--format", "json"]):
            out, err = io.StringIO(), io.StringIO()
            assert main(["-c", str(config), *argv], stdout=out, stderr=err) == 0, err.getvalue()
        assert '"ok": true' in out.getvalue()
        conn = psycopg2.connect(**pg_cluster.connect_kwargs(dbname))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'subscriptions'")
                assert cur.fetchone()[0] == "openwec"
        finally:
            conn.close()
    finally:
        pg_cluster.drop_database(dbname)


def _pg_cli(tmp_path: Path, cluster: PgCluster) -> tuple[Callable[..., tuple[int, str]], str]:
    """``wec`` in-process on settings naming a new database of ``cluster``; and that name."""
    dbname = cluster.create_database("cli")
    config = tmp_path / "wec.toml"
    config.write_text(
        f'[database]\ntype = "Postgres"\nhost = "127.0.0.1"\nport = {cluster.port}\n'
        f'dbname = "{dbname}"\nuser = "postgres"\nssl_mode = "Disable"\n\n'
        '[[collectors]]\nlisten_address = "127.0.0.1"\n[collectors.authentication]\n'
        'type = "Kerberos"\nservice_principal_name = "HTTP/wec.test.local@WEC.TEST"\n'
    )

    def wec(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["-c", str(config), *argv], stdout=out, stderr=err)
        return code, out.getvalue() + err.getvalue()

    return wec, dbname


def test_an_older_schema_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    wec, dbname = _pg_cli(tmp_path, pg_cluster)
    try:
        code, text = wec("subscriptions")
        assert code == 3 and "not initialised: run `wec db init`" in text
        assert wec("db", "init")[0] == 0
        assert wec("subscriptions")[0] == 0
        assert wec("db", "downgrade", "--yes")[0] == 0
        code, text = wec("subscriptions")
        assert code == 3 and "wec db upgrade" in text and "PostgreSQL database" in text
        code, text = wec("db", "upgrade", "--yes")
        assert code == 0, text
        assert wec("subscriptions")[0] == 0
    finally:
        pg_cluster.drop_database(dbname)


def test_wec_db_copy_from_moves_a_sqlite_site_to_postgres(
    tmp_path: Path, pg_cluster: PgCluster, make_sub: MakeSub
) -> None:
    from wec.store.sqlite import SQLiteStore

    sqlite_path = tmp_path / "single-node.sqlite"
    src = SQLiteStore(str(sqlite_path))
    src.init()
    subs = [make_sub(), make_sub()]
    for sub in subs:
        src.put_subscription(sub)
    src.put_bookmark("WIN10$@CORP", subs[0].uuid, BOOKMARK)
    src.put_heartbeats([HeartbeatUpdate.single("WIN10$@CORP", subs[0].uuid, "10.0.0.7", T0, True)])
    src.close()
    wec, dbname = _pg_cli(tmp_path, pg_cluster)
    try:
        code, text = wec("db", "copy-from", str(sqlite_path), "--yes")
        assert code == 3 and "wec db init" in text  # the destination must be initialised first
        assert wec("db", "init")[0] == 0
        for _ in range(2):  # running it again changes nothing
            code, text = wec("db", "copy-from", str(sqlite_path), "--yes")
            assert code == 0, text
            assert "copied 2 subscription(s), 1 bookmark(s), 1 heartbeat(s)" in text
        dst = PostgresStore(pg_cluster.settings(dbname))
        try:
            assert dst.list_subscriptions() == sorted(subs, key=lambda s: s.name)
            assert dst.get_bookmark("WIN10$@CORP", subs[0].uuid) == BOOKMARK
            (hb,) = dst.list_heartbeats()
            assert (hb.ip, hb.first_seen, hb.last_event_seen) == ("10.0.0.7", T0, T0)
        finally:
            dst.close()
    finally:
        pg_cluster.drop_database(dbname)
