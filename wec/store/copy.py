# SPDX-License-Identifier: GPL-3.0-or-later
"""Copy everything one store holds into another: moving a site from SQLite to PostgreSQL.

Subscriptions keep their uuids (and so their versions: sources see no change), bookmarks keep
every source's position, heartbeats keep first/last seen. Every write is an upsert, so a copy
that was interrupted can simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from wec.store.base import HeartbeatUpdate, Store

__all__ = ["CopyReport", "copy_store"]


@dataclass(frozen=True)
class CopyReport:
    subscriptions: int
    bookmarks: int
    heartbeats: int


def copy_store(src: Store, dst: Store) -> CopyReport:
    """Copy ``src`` into ``dst`` (both at the latest schema); rows already in ``dst`` stay
    unless ``src`` has the same key, which then wins."""
    subs = src.list_subscriptions()
    for sub in subs:
        dst.put_subscription(sub)
    bookmarks = src.list_bookmarks()
    for b in bookmarks:
        dst.put_bookmark(b.client, b.subscription_uuid, b.bookmark)
    heartbeats = [
        HeartbeatUpdate(h.client, h.subscription_uuid, h.ip, h.last_seen, h.last_event_seen, h.first_seen)
        for h in src.list_heartbeats()
    ]
    dst.put_heartbeats(heartbeats)
    return CopyReport(len(subs), len(bookmarks), len(heartbeats))
