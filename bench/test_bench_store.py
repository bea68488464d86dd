# SPDX-License-Identifier: GPL-3.0-or-later
"""The store operations that matter at scale, SQLite and PostgreSQL side by side in one run.

Run: ``.venv/bin/pytest bench/test_bench_store.py --benchmark-only -p no:cacheprovider``.

- **bookmark write**: what every acknowledged Events batch costs (one upsert, one commit);
- **bookmark read**: what every Enumerate costs per offered subscription;
- **heartbeat flush**: one :meth:`put_heartbeats` of 10 000 sources (the coalesced queue of a
  large site), every row already present (the steady state: all ``ON CONFLICT`` updates);
- **subscription poll / reload**: what each node does every ``db_sync_interval`` (read the
  generation), and when it moved (read 20 subscriptions and the reload counters).

SQLite is a file in a temporary directory (WAL, synchronous=NORMAL, as wecd runs it).
PostgreSQL is a private cluster started here with the server's durable defaults (fsync on,
synchronous_commit on), over TCP on loopback, so a commit waits for the WAL flush.
Each benchmark is grouped by operation: pytest-benchmark prints the two backends together.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import PgCluster, pg_bindir, start_cluster
from wec.model import OutputConfig, Subscription
from wec.store.base import HeartbeatUpdate, Store
from wec.store.postgres import PostgresStore
from wec.store.sqlite import SQLiteStore

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
BOOKMARK = (
    '<BookmarkList><Bookmark Channel="Security" RecordId="{n}" IsCurrent="true"/>'
    '<Bookmark Channel="System" RecordId="{n}"/><Bookmark Channel="Application" RecordId="{n}"/>'
    "</BookmarkList>"
)
MACHINES = 10_000
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found: run scripts/bootstrap.sh")
    c = start_cluster(options=("fsync=on", "full_page_writes=on", "synchronous_commit=on"))
    try:
        yield c
    finally:
        c.destroy()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, Store, list[Subscription]]]:
    s: Store
    tmp = tempfile.TemporaryDirectory(prefix="wec-bench-")
    if request.param == "sqlite":
        s = SQLiteStore(str(Path(tmp.name) / "wec.sqlite"))
    else:
        c: PgCluster = request.getfixturevalue("cluster")
        s = PostgresStore(c.settings(c.create_database("bench")), pool_size=8)
    s.init()
    subs = [
        Subscription(
            uuid=Subscription.new_uuid(),
            name=f"bench-{i:02d}",
            query=QUERY,
            outputs=(OutputConfig("Files", "Json", {"path": f"/var/log/wec/{i}/{{ip}}"}),),
        )
        for i in range(20)
    ]
    for sub in subs:
        s.put_subscription(sub)
    try:
        yield str(request.param), s, subs
    finally:
        s.close()
        tmp.cleanup()


def _label(benchmark: Any, group: str, backend: str) -> None:
    benchmark.group = f"store: {group}"
    benchmark.extra_info["backend"] = backend


def test_bookmark_write_per_batch(benchmark: Any, store: tuple[str, Store, list[Subscription]]) -> None:
    backend, s, subs = store
    _label(benchmark, "bookmark write (one per acked batch)", backend)
    counter = itertools.count()

    def write() -> None:
        n = next(counter)
        s.put_bookmark(f"PC{n % 500:04d}$@CORP.LOCAL", subs[0].uuid, BOOKMARK.format(n=n))

    benchmark(write)


def test_bookmark_read_per_enumerate(benchmark: Any, store: tuple[str, Store, list[Subscription]]) -> None:
    backend, s, subs = store
    _label(benchmark, "bookmark read (per Enumerate offer)", backend)
    s.put_bookmark("PC0001$@CORP.LOCAL", subs[1].uuid, BOOKMARK.format(n=1))
    benchmark(s.get_bookmark, "PC0001$@CORP.LOCAL", subs[1].uuid)


def test_heartbeat_flush_of_ten_thousand_machines(
    benchmark: Any, store: tuple[str, Store, list[Subscription]]
) -> None:
    backend, s, subs = store
    _label(benchmark, f"heartbeat flush ({MACHINES} machines)", backend)
    rounds = itertools.count()

    def updates() -> list[HeartbeatUpdate]:
        when = T0 + timedelta(seconds=next(rounds))
        return [
            HeartbeatUpdate.single(f"PC{i:05d}$@CORP.LOCAL", subs[i % 4].uuid, "10.1.2.3", when, i % 3 == 0)
            for i in range(MACHINES)
        ]

    s.put_heartbeats(updates())  # the rows exist: every round below is the steady state
    benchmark.pedantic(lambda u: s.put_heartbeats(u), setup=lambda: ((updates(),), {}), rounds=8)
    benchmark.extra_info["rows_per_s"] = round(MACHINES / benchmark.stats.stats.median)


def test_subscription_poll(benchmark: Any, store: tuple[str, Store, list[Subscription]]) -> None:
    backend, s, _ = store
    _label(benchmark, "subscription poll (every db_sync_interval)", backend)
    benchmark(s.subscriptions_generation)


def test_subscription_reload(benchmark: Any, store: tuple[str, Store, list[Subscription]]) -> None:
    backend, s, subs = store
    _label(benchmark, f"subscription reload ({len(subs)} subscriptions + counters)", backend)

    def reload() -> None:
        s.list_subscriptions()
        s.reload_counters()

    benchmark(reload)
