# SPDX-License-Identifier: GPL-3.0-or-later
"""``subscriptions clients``, ``stats``, ``heartbeats`` and ``bookmarks`` on a real database.

The state boundaries (docs/protocol.md §7.5) are checked to the microsecond with ``--at``: with
``start = at − interval``, *active* needs ``last_event_seen > start``, *alive* ``last_seen >
start``, and a source heard of exactly at ``start`` is dead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Cli, subscription_file
from wec.cli.render import relative_time
from wec.store.base import HeartbeatUpdate

UUID = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"
AT = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
INTERVAL = 600
START = AT - timedelta(seconds=INTERVAL)
US = timedelta(microseconds=1)


def _hb(
    client: str, last_seen: datetime, last_event: datetime | None, ip: str = "192.0.2.1"
) -> HeartbeatUpdate:
    return HeartbeatUpdate(client, UUID, ip, last_seen, last_event, START - timedelta(days=1))


@pytest.fixture
def machines(cli: Cli) -> Cli:
    cli.ok("subscriptions", "load", str(cli.write("s.toml", subscription_file("security", UUID,
           options=f"heartbeat_interval = {INTERVAL}"))))  # fmt: skip
    store = cli.store()
    store.put_heartbeats(
        [
            _hb("ACTIVE$@WEC.TEST", START + US, START + US),  # an event just after start
            _hb("EVENT-AT-START$@WEC.TEST", START + US, START),  # event exactly at start: alive
            _hb("ALIVE$@WEC.TEST", START + US, None),  # only a heartbeat, just after start
            _hb("OLD-EVENT$@WEC.TEST", START + US, START - timedelta(hours=1), ip="192.0.2.9"),
            _hb("DEAD-AT-START$@WEC.TEST", START, START),  # exactly at start: dead
            _hb("DEAD$@WEC.TEST", START - timedelta(hours=5), None),
        ]
    )
    store.close()
    return cli


def _states(cli: Cli, *args: str) -> dict[str, str]:
    d = cli.ok("subscriptions", "clients", "security", "--at", AT.isoformat(), "-f", "json", *args).json()
    return {m["machine"].split("$")[0]: m["state"] for m in d["machines"]}


def test_clients_classify_at_the_exact_boundaries(machines: Cli) -> None:
    assert _states(machines) == {
        "ACTIVE": "Active",
        "EVENT-AT-START": "Alive",
        "ALIVE": "Alive",
        "OLD-EVENT": "Alive",
        "DEAD-AT-START": "Dead",
        "DEAD": "Dead",
    }


def test_clients_filter_by_state(machines: Cli) -> None:
    assert set(_states(machines, "--active")) == {"ACTIVE"}
    assert set(_states(machines, "--alive")) == {"EVENT-AT-START", "ALIVE", "OLD-EVENT"}
    assert set(_states(machines, "-d")) == {"DEAD-AT-START", "DEAD"}
    assert machines("subscriptions", "clients", "security", "--alive", "--dead").code == 2


def test_a_wider_interval_moves_the_boundary(machines: Cli) -> None:
    # one second wider: the sources heard of exactly at the old start are now inside
    states = _states(machines, "--interval", str(INTERVAL + 1))
    assert states["DEAD-AT-START"] == "Active" and states["EVENT-AT-START"] == "Active"
    assert states["DEAD"] == "Dead"
    assert machines("stats", "-i", "0").code == 2


def test_stats_count_the_same_states(machines: Cli) -> None:
    (s,) = machines.ok("stats", "--at", AT.isoformat(), "--format", "json").json()
    assert s["subscription"] == {"uuid": UUID, "name": "security"}
    assert (s["total"], s["active"], s["alive"], s["dead"]) == (6, 1, 3, 2)
    assert s["interval"] == INTERVAL and s["start"] == "2025-03-01T11:50:00.000000Z"
    text = machines.ok("stats", "-s", "security", "--at", "2025-03-01T12:00:00").out.splitlines()
    assert text[0].split() == ["SUBSCRIPTION", "STATE", "WINDOW", "MACHINES", "ACTIVE", "ALIVE", "DEAD"]
    assert text[1].split() == ["security", "enabled", "600", "s", "6", "1", "3", "2"]
    assert machines("stats", "--at", "yesterday").code == 2


def test_clients_text_shows_relative_times(machines: Cli) -> None:
    out = machines.ok("subscriptions", "machines", "security", "--at", AT.isoformat(), "--dead").out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["MACHINE", "IP", "STATE"]
    dead = next(line for line in lines if line.startswith("DEAD$"))
    assert "5 h ago" in dead and "never" in dead


def test_heartbeats_filter_by_subscription_machine_and_address(machines: Cli) -> None:
    rows = machines.ok("heartbeats", "-f", "json").json()
    assert len(rows) == 6
    (one,) = machines.ok("heartbeats", "-s", "security", "-m", "ALIVE$@WEC.TEST", "-f", "json").json()
    assert one["ip"] == "192.0.2.1" and one["last_event_seen"] is None
    assert one["last_seen"] == "2025-03-01T11:50:00.000001Z"
    (by_ip,) = machines.ok("heartbeats", "-a", "192.0.2.9", "--format", "json").json()
    assert by_ip["machine"] == "OLD-EVENT$@WEC.TEST"
    assert machines("heartbeats", "-m", "x", "-a", "y").code == 2  # one or the other
    text = machines.ok("heartbeats").out
    assert text.splitlines()[0].split()[:3] == ["MACHINE", "SUBSCRIPTION", "IP"]
    assert "nope" not in text and machines("heartbeats", "-s", "nope").code == 1


def test_heartbeats_find_a_machine_by_short_name_or_fqdn(machines: Cli) -> None:
    # Issue 15: `heartbeats -m DEMO01` said "no heartbeat" (exit 0) for DEMO01$@REALM.
    for name in ("ALIVE", "alive", "ALIVE$", "alive.wec.test"):
        r = machines("heartbeats", "-m", name, "-f", "json")
        assert r.code == 0, name
        assert [x["machine"] for x in r.json()] == ["ALIVE$@WEC.TEST"], name
    assert "ALIVE$@WEC.TEST" in machines.ok("heartbeats", "-m", "alive").out
    other_realm = machines("heartbeats", "-m", "alive.other.test")
    assert other_realm.code == 1 and "ALIVE$@EXAMPLE.LOCAL" in other_realm.err
    unknown = machines("heartbeats", "-m", "demo01.example.local")
    assert unknown.code == 1 and "DEMO01$@" in unknown.err and "principal" in unknown.err


def test_clients_at_before_later_contacts_says_so_instead_of_a_countdown(machines: Cli) -> None:
    # Issue 15: `clients --at` in the past printed "in 641 days" for later contacts.
    before = (START - timedelta(days=641)).isoformat()
    out = machines.ok("subscriptions", "clients", "security", "--at", before).out
    assert "after --at" in out
    assert " in " not in out and "641" not in out


def test_bookmarks_show_delete_copy(machines: Cli) -> None:
    machines.ok("subscriptions", "duplicate", "security", "copy")
    store = machines.store()
    store.put_bookmark(
        "WIN10$@WEC.TEST", UUID, '<BookmarkList><Bookmark Channel="Security" RecordId="7"/></BookmarkList>'
    )
    store.put_bookmark("WIN11$@WEC.TEST", UUID, "<BookmarkList/>")
    store.close()
    shown = machines.ok("bookmarks", "show", "security").out.splitlines()
    assert shown[0].startswith("WIN10$@WEC.TEST: <BookmarkList><Bookmark Channel")
    assert (
        len(machines.ok("bookmarks", "show", "security", "-m", "WIN11$@WEC.TEST", "-f", "json").json()) == 1
    )
    (by_short_name,) = machines.ok("bookmarks", "show", "security", "-m", "win11", "-f", "json").json()
    assert by_short_name["machine"] == "WIN11$@WEC.TEST"
    r = machines.ok("bookmarks", "copy", "security", "copy")
    assert "copied 2 bookmark(s)" in r.err
    assert machines("bookmarks", "copy", "security", "copy").code == 2  # replacing asks
    deleting = machines("bookmarks", "delete", "-s", "security", "-m", "WIN10$@WEC.TEST")
    assert deleting.code == 2 and "next event" in deleting.err
    machines.ok("bookmarks", "delete", "-s", "security", "-m", "WIN10$@WEC.TEST", "-y")
    assert [b["machine"] for b in machines.ok("bookmarks", "show", "security", "-f", "json").json()] == [
        "WIN11$@WEC.TEST"
    ]
    machines.ok("bookmarks", "delete", "--yes")
    assert machines.ok("bookmarks", "show", "copy", "-f", "json").json() == []


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=12), "12 s ago"),
        (timedelta(minutes=3, seconds=20), "3 min ago"),
        (timedelta(hours=5), "5 h ago"),
        (timedelta(days=1), "24 h ago"),
        (timedelta(days=2, hours=1), "2 days ago"),
        (-timedelta(minutes=10), "in 10 min"),
    ],
)
def test_relative_times(delta: timedelta, text: str) -> None:
    assert relative_time(AT - delta, AT) == text
    assert relative_time(None, AT) == "never"
