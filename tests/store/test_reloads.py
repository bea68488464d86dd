# SPDX-License-Identifier: GPL-3.0-or-later
"""Reload requests (schema version 2): ``wec subscriptions reload`` → running servers rebuild."""

from __future__ import annotations

from collections.abc import Callable

from wec.model import Subscription
from wec.store.base import Store


def test_a_reload_request_bumps_one_counter_and_the_generation(
    store: Store, make_sub: Callable[..., Subscription]
) -> None:
    a, b = make_sub(), make_sub()
    store.put_subscription(a)
    store.put_subscription(b)
    generation = store.subscriptions_generation()
    assert store.reload_counters() == {}
    assert store.request_reload(a.uuid.upper()) == 1
    assert store.reload_counters() == {a.uuid: 1}
    assert store.subscriptions_generation() == generation + 1
    assert store.request_reload(None) == 2
    assert store.reload_counters() == {a.uuid: 2, b.uuid: 1}
    assert store.get_subscription(a.uuid) == a  # the subscription itself is untouched


def test_reloading_nothing_changes_nothing(store: Store, make_sub: Callable[..., Subscription]) -> None:
    generation = store.subscriptions_generation()
    assert store.request_reload(None) == 0
    assert store.request_reload(Subscription.new_uuid()) == 0
    assert store.subscriptions_generation() == generation


def test_counters_go_with_their_subscription(store: Store, make_sub: Callable[..., Subscription]) -> None:
    a = make_sub()
    store.put_subscription(a)
    store.request_reload(a.uuid)
    store.put_subscription(a)  # an update keeps the counter
    assert store.reload_counters() == {a.uuid: 1}
    store.delete_subscription(a.uuid)
    assert store.reload_counters() == {}


def test_migrations_to_undo_lists_newest_first(store: Store) -> None:
    latest = store.latest_version()
    assert [m.version for m in store.migrations_to_undo(0)] == list(range(latest, 0, -1))
    assert store.migrations_to_undo(latest) == []
