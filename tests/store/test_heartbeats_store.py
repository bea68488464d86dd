# SPDX-License-Identifier: GPL-3.0-or-later
"""Heartbeat upserts and machine states (docs/protocol.md §7.5), on every backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wec.model import Subscription
from wec.store.base import HeartbeatRow, HeartbeatUpdate, MachineState, Store, machine_state

MakeSub = Callable[..., Subscription]
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def _hb(
    sub: Subscription,
    when: datetime,
    *,
    event: bool = False,
    client: str = "WIN10$@WEC.TEST",
    ip: str = "10.0.0.1",
) -> HeartbeatUpdate:
    return HeartbeatUpdate.single(client, sub.uuid, ip, when, event)


@pytest.fixture
def sub(store: Store, make_sub: MakeSub) -> Subscription:
    s = make_sub(name="security")
    store.put_subscription(s)
    return s


def test_first_heartbeat_creates_the_row(store: Store, sub: Subscription) -> None:
    store.put_heartbeats([_hb(sub, T0)])
    (row,) = store.list_heartbeats()
    assert row == HeartbeatRow("WIN10$@WEC.TEST", sub.uuid, "security", "10.0.0.1", T0, T0, None)
    assert row.first_seen.tzinfo is UTC


def test_upsert_takes_the_min_of_first_seen_and_the_max_of_the_rest(store: Store, sub: Subscription) -> None:
    store.put_heartbeats([_hb(sub, T0, event=True)])
    store.put_heartbeats([_hb(sub, T0 + timedelta(minutes=5), ip="10.0.0.2")])
    (row,) = store.list_heartbeats()
    assert row.first_seen == T0
    # A late, out-of-order update moves no "last" value back, nor the address.
    store.put_heartbeats([_hb(sub, T0 - timedelta(minutes=1), event=True, ip="10.0.0.9")])
    (row,) = store.list_heartbeats()
    assert row.first_seen == T0 - timedelta(minutes=1)
    assert row.last_seen == T0 + timedelta(minutes=5)
    assert row.last_event_seen == T0
    assert row.ip == "10.0.0.2"  # the address of the most recent message


def test_an_event_after_heartbeats_sets_last_event_seen(store: Store, sub: Subscription) -> None:
    store.put_heartbeats([_hb(sub, T0)])
    store.put_heartbeats([_hb(sub, T0 + timedelta(seconds=1), event=True)])
    (row,) = store.list_heartbeats()
    assert row.last_event_seen == row.last_seen == T0 + timedelta(seconds=1)


def test_a_batch_is_written_in_one_go_and_may_repeat_a_source(store: Store, sub: Subscription) -> None:
    updates = [
        _hb(sub, T0 + timedelta(seconds=i), client=f"PC{i % 50}$@WEC.TEST", event=i % 3 == 0)
        for i in range(500)
    ]
    store.put_heartbeats(updates)
    rows = store.list_heartbeats(sub_uuid=sub.uuid)
    assert len(rows) == 50
    pc0 = next(r for r in rows if r.client == "PC0$@WEC.TEST")
    assert pc0.first_seen == T0 and pc0.last_seen == T0 + timedelta(seconds=450)
    assert pc0.last_event_seen == T0 + timedelta(seconds=450)  # 450 % 3 == 0


def test_heartbeats_of_a_deleted_subscription_are_dropped(store: Store, sub: Subscription) -> None:
    gone = Subscription.new_uuid()
    store.put_heartbeats([_hb(sub, T0), HeartbeatUpdate.single("c", gone, "1.1.1.1", T0, False)])
    assert [r.subscription_uuid for r in store.list_heartbeats()] == [sub.uuid]


def test_list_heartbeats_filters(store: Store, sub: Subscription, make_sub: MakeSub) -> None:
    other = make_sub(name="other")
    store.put_subscription(other)
    store.put_heartbeats(
        [
            _hb(sub, T0, client="a", ip="10.0.0.1"),
            _hb(sub, T0, client="b", ip="10.0.0.2"),
            _hb(other, T0, client="a", ip="10.0.0.1"),
        ]
    )
    assert len(store.list_heartbeats()) == 3
    assert {r.client for r in store.list_heartbeats(sub_uuid=sub.uuid.upper())} == {"a", "b"}
    assert {r.subscription_name for r in store.list_heartbeats(client="a")} == {"security", "other"}
    assert [(r.client, r.subscription_name) for r in store.list_heartbeats(ip="10.0.0.2")] == [
        ("b", "security")
    ]
    assert store.list_heartbeats(sub_uuid=other.uuid, client="b") == []


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        HeartbeatUpdate.single("c", Subscription.new_uuid(), "1.1.1.1", datetime(2026, 1, 1), False)


def test_other_timezones_are_converted_to_utc(store: Store, sub: Subscription) -> None:
    paris = timezone(timedelta(hours=1))
    store.put_heartbeats([_hb(sub, datetime(2026, 3, 1, 13, 0, tzinfo=paris))])
    (row,) = store.list_heartbeats()
    assert row.last_seen == T0 and row.last_seen.utcoffset() == timedelta(0)


# -- machine states, at their exact boundaries -------------------------------------------------------
@pytest.mark.parametrize(
    ("last_seen", "last_event_seen", "state"),
    [
        (T0 + US, T0 + US, MachineState.ACTIVE),
        (T0 + US, None, MachineState.ALIVE),
        (T0 + US, T0, MachineState.ALIVE),  # an event exactly at start is not after it
        (T0 + US, T0 - US, MachineState.ALIVE),
        (T0, None, MachineState.DEAD),  # seen exactly at start: not after it
        (T0, T0, MachineState.DEAD),
        (T0 - US, None, MachineState.DEAD),
        (T0 - US, T0 - US, MachineState.DEAD),
    ],
)
def test_machine_states_at_their_boundaries(
    store: Store,
    sub: Subscription,
    last_seen: datetime,
    last_event_seen: datetime | None,
    state: MachineState,
) -> None:
    first = T0 - timedelta(days=1)
    store.put_heartbeats([HeartbeatUpdate("pc", sub.uuid, "10.0.0.1", last_seen, last_event_seen, first)])
    states = store.machine_states(sub.uuid, T0)
    (row,) = store.list_heartbeats()
    assert machine_state(row, T0) is state
    expected = {s: (1 if s is state else 0) for s in MachineState}
    assert states.counts() == expected
    assert getattr(states, state.value.lower()) == (row,)


def test_machine_states_are_per_subscription(store: Store, sub: Subscription, make_sub: MakeSub) -> None:
    other = make_sub()
    store.put_subscription(other)
    store.put_heartbeats([_hb(sub, T0 + US, client="a", event=True), _hb(other, T0 - US, client="b")])
    assert store.machine_states(sub.uuid, T0).counts()[MachineState.ACTIVE] == 1
    assert store.machine_states(other.uuid, T0).counts()[MachineState.DEAD] == 1
    assert store.machine_states(Subscription.new_uuid(), T0).counts() == dict.fromkeys(MachineState, 0)


def test_merge_keeps_the_event_time_apart_from_the_latest_heartbeat() -> None:
    u = Subscription.new_uuid()
    a = HeartbeatUpdate.single("c", u, "1.1.1.1", T0, True)
    b = HeartbeatUpdate.single("c", u, "2.2.2.2", T0 + timedelta(seconds=5), False)
    for merged in (a.merge(b), b.merge(a)):
        assert merged == HeartbeatUpdate("c", u, "2.2.2.2", T0 + timedelta(seconds=5), T0, T0)
    with pytest.raises(ValueError):
        a.merge(HeartbeatUpdate.single("other", u, "1.1.1.1", T0, False))


def test_many_threads_write_and_read_at_once(store: Store, make_sub: MakeSub) -> None:
    subs = [make_sub() for _ in range(4)]
    for s in subs:
        store.put_subscription(s)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                s = subs[(n + i) % len(subs)]
                store.put_heartbeats([_hb(s, T0 + timedelta(seconds=i), client=f"pc{n}")])
                store.put_bookmark(f"pc{n}", s.uuid, f"<BookmarkList>{i}</BookmarkList>")
                store.get_bookmark(f"pc{n}", s.uuid)
                store.list_subscriptions()
        except BaseException as err:  # collected, re-raised by the main thread's assertion
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(store.list_heartbeats()) == 8 * 4
    assert len(store.list_bookmarks()) == 8 * 4


def test_an_out_of_order_older_first_seen_moves_first_seen_back(store: Store, sub: Subscription) -> None:
    # Two threads (or nodes) may flush the same source in either order; the earliest wins.
    store.put_heartbeats([_hb(sub, T0 + timedelta(seconds=10))])
    store.put_heartbeats([_hb(sub, T0)])
    (row,) = store.list_heartbeats()
    assert row.first_seen == T0 and row.last_seen == T0 + timedelta(seconds=10)


def test_one_batch_may_spell_a_subscription_uuid_in_several_ways(store: Store, sub: Subscription) -> None:
    store.put_heartbeats(
        [
            _hb(sub, T0, event=True),
            HeartbeatUpdate.single("WIN10$@WEC.TEST", sub.uuid.upper(), "10.0.0.2", T0 + US, False),
        ]
    )
    (row,) = store.list_heartbeats()
    assert (row.ip, row.last_seen, row.last_event_seen) == ("10.0.0.2", T0 + US, T0)
