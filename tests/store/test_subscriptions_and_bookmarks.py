# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscriptions and bookmarks, on every backend."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from tests.store.conftest import SQLITE_ONLY, OpenDb
from wec.model import (
    ClientFilter,
    ContentFormat,
    FilterKind,
    FilterOperation,
    OutputConfig,
    Subscription,
)
from wec.store.base import Store, StoreError, SubscriptionConflict, UnknownSubscription
from wec.store.sqlite import SQLiteStore

MakeSub = Callable[..., Subscription]

BOOKMARK = '<BookmarkList><Bookmark Channel="Security" RecordId="582113" IsCurrent="true"/></BookmarkList>'


def _every_option(make_sub: MakeSub) -> Subscription:
    return make_sub(
        name="séc-core ✓",
        uri="/wsman/SubscriptionManager/WEC",
        heartbeat_interval=900,
        connection_retry_count=0,
        connection_retry_interval=30,
        max_time=900,
        max_elements=25,
        max_envelope_size=256000,
        read_existing_events=True,
        content_format=ContentFormat.RENDERED_TEXT,
        ignore_channel_error=False,
        locale="fr-FR",
        data_locale="en-US",
        enabled=False,
        revision="r42",
        filter=ClientFilter(
            FilterOperation.EXCEPT,
            FilterKind.MACHINE_ID,
            ("SRV*", "dc01.corp"),
            case_insensitive=True,
            glob=True,
        ),
        outputs=(
            OutputConfig("Files", "Json", {"path": "/var/log/{ip:2}/{client}"}),
            OutputConfig(
                "Kafka", "Raw", {"topic": "a,b", "options": {"bootstrap.servers": "k:9092"}}, enabled=False
            ),
            OutputConfig(
                "Tcp",
                "RawJson",
                {"host": "siem", "port": 6514, "tls_enabled": True, "tls_certificate_authorities": ["/ca"]},
            ),
        ),
    )


def test_a_subscription_with_every_option_round_trips(store: Store, make_sub: MakeSub) -> None:
    sub = _every_option(make_sub)
    store.put_subscription(sub)
    assert store.get_subscription(sub.uuid) == sub
    assert store.list_subscriptions() == [sub]


def test_defaults_round_trip_too(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    assert store.get_subscription(sub.uuid) == sub


def test_get_by_uuid_in_any_spelling_or_by_name(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub(name="security")
    store.put_subscription(sub)
    assert store.get_subscription(sub.uuid.upper()) == sub
    assert store.get_subscription("{" + sub.uuid + "}") == sub
    assert store.get_subscription("security") == sub
    assert store.get_subscription("Security") is None
    assert store.get_subscription("nope") is None


def test_a_uuid_spelled_uppercase_is_stored_canonically(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(dataclasses.replace(sub, uuid=sub.uuid.upper()))
    stored = store.get_subscription(sub.uuid)
    assert stored is not None and stored.uuid == sub.uuid


def test_put_replaces_by_uuid_and_lists_sorted_by_name(store: Store, make_sub: MakeSub) -> None:
    b, a = make_sub(name="b"), make_sub(name="a")
    store.put_subscription(b)
    store.put_subscription(a)
    b2 = dataclasses.replace(b, name="c", max_time=60)
    store.put_subscription(b2)
    assert store.list_subscriptions() == [a, b2]


def test_a_name_taken_by_another_uuid_is_a_conflict(store: Store, make_sub: MakeSub) -> None:
    store.put_subscription(make_sub(name="dup"))
    with pytest.raises(SubscriptionConflict, match="'dup' is already used"):
        store.put_subscription(make_sub(name="dup"))
    assert len(store.list_subscriptions()) == 1


def test_generation_moves_on_every_change_and_only_then(store: Store, make_sub: MakeSub) -> None:
    g0 = store.subscriptions_generation()
    sub = make_sub()
    store.put_subscription(sub)
    g1 = store.subscriptions_generation()
    assert g1 != g0
    store.put_bookmark("c", sub.uuid, BOOKMARK)
    store.list_subscriptions()
    assert store.subscriptions_generation() == g1
    store.put_subscription(dataclasses.replace(sub, enabled=False))
    g2 = store.subscriptions_generation()
    assert g2 not in (g0, g1)
    assert store.delete_subscription(Subscription.new_uuid()) is False
    assert store.subscriptions_generation() == g2
    assert store.delete_subscription(sub.uuid) is True
    assert store.subscriptions_generation() not in (g0, g1, g2)


def test_generation_is_seen_by_another_store_on_the_same_database(
    store: Store, open_db: OpenDb, make_sub: MakeSub
) -> None:
    other = open_db()
    before = other.subscriptions_generation()
    store.put_subscription(make_sub())
    assert other.subscriptions_generation() != before


def test_updating_a_subscription_keeps_its_bookmarks(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    store.put_bookmark("WIN10$@WEC.TEST", sub.uuid, BOOKMARK)
    store.put_subscription(dataclasses.replace(sub, max_time=5))
    assert store.get_bookmark("WIN10$@WEC.TEST", sub.uuid) == BOOKMARK


def test_deleting_a_subscription_deletes_its_bookmarks_and_heartbeats(
    store: Store, make_sub: MakeSub
) -> None:
    from datetime import UTC, datetime

    from wec.store.base import HeartbeatUpdate

    sub, other = make_sub(), make_sub()
    store.put_subscription(sub)
    store.put_subscription(other)
    store.put_bookmark("c", sub.uuid, BOOKMARK)
    store.put_bookmark("c", other.uuid, BOOKMARK)
    store.put_heartbeats([HeartbeatUpdate.single("c", sub.uuid, "10.0.0.1", datetime.now(UTC), False)])
    assert store.delete_subscription(sub.uuid.upper())
    assert store.list_bookmarks() == store.list_bookmarks(sub_uuid=other.uuid)
    assert store.list_heartbeats() == []


# -- bookmarks -------------------------------------------------------------------------------------
def test_bookmark_crud(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    assert store.get_bookmark("WIN10$@WEC.TEST", sub.uuid) is None
    store.put_bookmark("WIN10$@WEC.TEST", sub.uuid, BOOKMARK)
    assert store.get_bookmark("WIN10$@WEC.TEST", sub.uuid.upper()) == BOOKMARK
    newer = BOOKMARK.replace("582113", "582200")
    store.put_bookmark("WIN10$@WEC.TEST", sub.uuid, newer)
    assert store.get_bookmark("WIN10$@WEC.TEST", sub.uuid) == newer
    assert store.get_bookmark("win10$@wec.test", sub.uuid) is None  # identities are exact
    assert store.delete_bookmarks(sub_uuid=sub.uuid, client="WIN10$@WEC.TEST") == 1
    assert store.get_bookmark("WIN10$@WEC.TEST", sub.uuid) is None


def test_bookmarks_are_stored_verbatim(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    odd = (
        '<BookmarkList Direction="backward">\r\n'
        '  <Bookmark Channel="Microsoft-Windows-Sysmon/Opérationnel" RecordId="1"/>\x00</BookmarkList>'
    )
    store.put_bookmark("c", sub.uuid, odd)
    assert store.get_bookmark("c", sub.uuid) == odd


def test_a_bookmark_for_an_unknown_subscription_is_refused(store: Store) -> None:
    with pytest.raises(UnknownSubscription):
        store.put_bookmark("c", Subscription.new_uuid(), BOOKMARK)
    assert isinstance(UnknownSubscription("x"), StoreError)


def test_list_and_delete_bookmarks_by_subscription_client_or_all(store: Store, make_sub: MakeSub) -> None:
    s1, s2 = make_sub(), make_sub()
    for s in (s1, s2):
        store.put_subscription(s)
        for c in ("a", "b"):
            store.put_bookmark(c, s.uuid, f"<BookmarkList>{c}</BookmarkList>")
    assert len(store.list_bookmarks()) == 4
    assert {(b.client, b.subscription_uuid) for b in store.list_bookmarks(sub_uuid=s1.uuid)} == {
        ("a", s1.uuid),
        ("b", s1.uuid),
    }
    assert [b.bookmark for b in store.list_bookmarks(sub_uuid=s2.uuid, client="b")] == [
        "<BookmarkList>b</BookmarkList>"
    ]
    assert store.delete_bookmarks(client="a") == 2
    assert store.delete_bookmarks(sub_uuid=s1.uuid) == 1
    assert store.delete_bookmarks() == 1
    assert store.list_bookmarks() == []


def test_copy_bookmarks_replaces_those_of_the_target(store: Store, make_sub: MakeSub) -> None:
    src, dst = make_sub(), make_sub()
    store.put_subscription(src)
    store.put_subscription(dst)
    store.put_bookmark("a", src.uuid, "<BookmarkList>a-src</BookmarkList>")
    store.put_bookmark("b", src.uuid, "<BookmarkList>b-src</BookmarkList>")
    store.put_bookmark("a", dst.uuid, "<BookmarkList>a-old</BookmarkList>")
    store.put_bookmark("z", dst.uuid, "<BookmarkList>z-dst</BookmarkList>")
    assert store.copy_bookmarks(src.uuid, dst.uuid.upper()) == 2
    assert {b.client: b.bookmark for b in store.list_bookmarks(sub_uuid=dst.uuid)} == {
        "a": "<BookmarkList>a-src</BookmarkList>",
        "b": "<BookmarkList>b-src</BookmarkList>",
        "z": "<BookmarkList>z-dst</BookmarkList>",
    }
    assert len(store.list_bookmarks(sub_uuid=src.uuid)) == 2  # the source keeps its own
    assert store.copy_bookmarks(src.uuid, src.uuid) == 2


def test_copy_bookmarks_needs_both_subscriptions(store: Store, make_sub: MakeSub) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    with pytest.raises(UnknownSubscription):
        store.copy_bookmarks(sub.uuid, Subscription.new_uuid())
    with pytest.raises(UnknownSubscription):
        store.copy_bookmarks("not-a-uuid", sub.uuid)


class _CommitFails:
    """A connection whose next COMMIT fails, as SQLITE_BUSY (rollback-journal fallback when WAL is
    unavailable, e.g. on NFS), SQLITE_FULL or SQLITE_IOERR can make it fail."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.fail = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@SQLITE_ONLY
def test_a_failed_commit_rolls_back_and_releases_the_write_lock(
    store: SQLiteStore, db_path: str, make_sub: MakeSub
) -> None:
    sub = make_sub()
    store.put_subscription(sub)
    store._local.conn = _CommitFails(store._conn())
    with pytest.raises(StoreError):
        store.put_bookmark("a", sub.uuid, BOOKMARK)
    assert store.get_bookmark("a", sub.uuid) is None  # nothing half-written
    # Another worker process (its own connection) is not locked out ...
    other = SQLiteStore(db_path, busy_timeout=0.2)
    try:
        other.put_bookmark("b", sub.uuid, BOOKMARK)
    finally:
        other.close()
    # ... and this thread's connection can start a new transaction.
    store.put_bookmark("a", sub.uuid, BOOKMARK)
    assert store.get_bookmark("a", sub.uuid) == BOOKMARK
