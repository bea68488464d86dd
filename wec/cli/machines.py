# SPDX-License-Identifier: GPL-3.0-or-later
"""What the CLI says about sources: ``subscriptions clients``, ``heartbeats``, ``stats``,
``bookmarks``.

Machine states (docs/protocol.md §7.5), with ``start = now − interval`` (the subscription's
``heartbeat_interval`` unless ``--interval``): **active** sent events after ``start``; **alive**
sent only heartbeats after ``start``; **dead** sent nothing after ``start``. A source last heard
of exactly at ``start`` is not "after" it. The classification is the store's
(:func:`wec.store.base.machine_state`), so the CLI and the metrics cannot disagree.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from wec.cli.common import EXIT_USAGE, CliError, Context, parse_when
from wec.cli.render import Cell, Table, iso, relative_time
from wec.model import Subscription
from wec.store.base import HeartbeatRow, MachineState, machine_state

__all__ = ["add_parsers", "print_clients"]


def _now(args: argparse.Namespace) -> datetime:
    at = getattr(args, "at", None)
    return parse_when(at) if at else datetime.now(UTC)


def _interval(sub: Subscription, args: argparse.Namespace) -> int:
    interval = getattr(args, "interval", None)
    if interval is None:
        return sub.heartbeat_interval
    if interval <= 0:
        raise CliError("--interval must be a positive number of seconds", EXIT_USAGE)
    return int(interval)


def _row_json(row: HeartbeatRow, state: MachineState | None = None) -> dict[str, Any]:
    # OpenWEC's keys first (its heartbeats JSON, subscription fields flattened), so that its
    # scripts read ours unchanged; wec's own fields stand beside them (docs/cli.md).
    d: dict[str, Any] = {
        "machine": row.client,
        "ip": row.ip,
        "subscription_uuid": row.subscription_uuid,
        "subscription_name": row.subscription_name,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
        "last_event_seen": iso(row.last_event_seen),
        "subscription": {"uuid": row.subscription_uuid, "name": row.subscription_name},
    }
    if state is not None:
        d["state"] = state.value
    return d


def _since(when: datetime | None, now: datetime) -> str:
    # With --at in the past, later contacts are facts after the instant asked about, not a
    # future ("in 641 days"): say so instead of printing a countdown.
    if when is not None and when > now:
        return "after --at"
    return relative_time(when, now)


def _same_machine(principal: str, given: str) -> bool:
    """``DEMO01``, ``DEMO01$`` or ``demo01.example.local`` names the source ``DEMO01$@EXAMPLE.LOCAL``.

    Sources are known by their Kerberos principal: the computer account (NetBIOS name + ``$``)
    and the realm. A DNS domain, when given, must match the realm (AD realms are the upper-case
    DNS domain)."""
    account, _, realm = principal.partition("@")
    host, _, domain = given.partition(".")
    if host.rstrip("$").casefold() != account.rstrip("$").casefold():
        return False
    return not domain or not realm or domain.casefold() == realm.casefold()


# --- subscriptions clients ---------------------------------------------------------------------


def print_clients(ctx: Context, args: argparse.Namespace) -> int:
    sub = ctx.subscription(args.subscription)
    now = _now(args)
    interval = _interval(sub, args)
    start = now - timedelta(seconds=interval)
    wanted = (
        MachineState.ACTIVE if args.active else MachineState.ALIVE if args.alive else MachineState.DEAD
        if args.dead else None
    )  # fmt: skip
    rows = [(r, machine_state(r, start)) for r in ctx.store.list_heartbeats(sub_uuid=sub.uuid)]
    if wanted is not None:
        rows = [(r, s) for r, s in rows if s is wanted]
    if args.format == "json":
        ctx.out.json(
            {
                "subscription": {"uuid": sub.uuid, "name": sub.name},
                "interval": interval,
                "start": iso(start),
                "machines": [_row_json(r, s) for r, s in rows],
            }
        )
        return 0
    if not rows:
        ctx.out.note(f"no {wanted.value.lower() + ' ' if wanted else ''}source for {sub.name}")
        return 0
    table = Table(["MACHINE", "IP", "STATE", "LAST SEEN", "LAST EVENT", "FIRST SEEN"])
    for r, s in rows:
        table.add(
            r.client,
            r.ip,
            Cell(s.value),
            _since(r.last_seen, now),
            Cell(_since(r.last_event_seen, now)),
            _since(r.first_seen, now),
        )
    ctx.out.table(table)
    return 0


# --- heartbeats ---------------------------------------------------------------------------------


def cmd_heartbeats(ctx: Context, args: argparse.Namespace) -> int:
    sub_uuid = ctx.subscription(args.subscription).uuid if args.subscription else None
    machine = args.machine
    rows = ctx.store.list_heartbeats(sub_uuid=sub_uuid, client=machine, ip=args.address)
    if not rows and machine and "@" not in machine:
        # A short name or an FQDN, as an administrator thinks of the machine.
        rows = [r for r in ctx.store.list_heartbeats(sub_uuid=sub_uuid) if _same_machine(r.client, machine)]
        if rows:
            ctx.out.note(f"{machine}: " + ", ".join(sorted({r.client for r in rows})))
    if args.format == "json":
        ctx.out.json([_row_json(r) for r in rows])
        return 0 if rows or not machine else 1
    if not rows:
        if not machine:
            ctx.out.note("no heartbeat")
            return 0
        short = machine.partition("@")[0].partition(".")[0].rstrip("$").upper()
        raise CliError(
            f"no heartbeat from {machine}: sources are named by their Kerberos principal, the computer "
            f"account and the realm (e.g. {short}$@EXAMPLE.LOCAL); `wec heartbeats` lists the known ones"
        )
    now = datetime.now(UTC)
    table = Table(["MACHINE", "SUBSCRIPTION", "IP", "FIRST SEEN", "LAST SEEN", "LAST EVENT"])
    for r in rows:
        table.add(
            r.client,
            r.subscription_name,
            r.ip,
            relative_time(r.first_seen, now),
            relative_time(r.last_seen, now),
            Cell(relative_time(r.last_event_seen, now)),
        )
    ctx.out.table(table)
    return 0


# --- stats --------------------------------------------------------------------------------------


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    subs = [ctx.subscription(args.subscription)] if args.subscription else ctx.store.list_subscriptions()
    now = _now(args)
    result: list[dict[str, Any]] = []
    for sub in subs:
        interval = _interval(sub, args)
        start = now - timedelta(seconds=interval)
        counts = ctx.store.machine_states(sub.uuid, start).counts()
        total = sum(counts.values())
        result.append(
            {
                # OpenWEC's `stats --format json` keys, then wec's own (docs/cli.md).
                "subscription_name": sub.name,
                "subscription_uuid": sub.uuid,
                "subscription_uri": sub.uri,
                "since": iso(start),
                "total_machines_count": total,
                "alive_machines_count": counts[MachineState.ALIVE],
                "active_machines_count": counts[MachineState.ACTIVE],
                "dead_machines_count": counts[MachineState.DEAD],
                "subscription": {"uuid": sub.uuid, "name": sub.name},
                "enabled": sub.enabled,
                "interval": interval,
                "start": iso(start),
                "total": total,
                "active": counts[MachineState.ACTIVE],
                "alive": counts[MachineState.ALIVE],
                "dead": counts[MachineState.DEAD],
            }
        )
    if args.format == "json":
        ctx.out.json(result)
        return 0
    if not result:
        ctx.out.note("no subscription")
        return 0
    table = Table(["SUBSCRIPTION", "STATE", "WINDOW", "MACHINES", "ACTIVE", "ALIVE", "DEAD"])
    for r in result:
        table.add(
            r["subscription"]["name"],
            Cell("enabled" if r["enabled"] else "disabled"),
            f"{r['interval']} s",
            str(r["total"]),
            Cell(str(r["active"]), "green" if r["active"] else None),
            Cell(str(r["alive"]), "yellow" if r["alive"] else None),
            Cell(str(r["dead"]), "red" if r["dead"] else None),
        )
    ctx.out.table(table)
    return 0


# --- bookmarks ----------------------------------------------------------------------------------


def cmd_bookmarks_show(ctx: Context, args: argparse.Namespace) -> int:
    sub = ctx.subscription(args.subscription)
    rows = ctx.store.list_bookmarks(sub_uuid=sub.uuid, client=args.machine)
    if not rows and args.machine and "@" not in args.machine:  # a short name or an FQDN
        every = ctx.store.list_bookmarks(sub_uuid=sub.uuid)
        rows = [b for b in every if _same_machine(b.client, args.machine)]
    if args.format == "json":
        ctx.out.json(
            [
                {
                    # OpenWEC's bookmark fields (it prints them as text only), named as in its
                    # heartbeats JSON; then wec's own.
                    "machine": b.client,
                    "subscription_uuid": sub.uuid,
                    "subscription_name": sub.name,
                    "bookmark": b.bookmark,
                    "subscription": {"uuid": sub.uuid, "name": sub.name},
                }
                for b in rows
            ]
        )
        return 0
    if not rows:
        ctx.out.note(f"no bookmark for {sub.name}" + (f" and {args.machine}" if args.machine else ""))
        return 0
    for b in rows:
        ctx.out.line(f"{b.client}: {b.bookmark}")
    return 0


def cmd_bookmarks_delete(ctx: Context, args: argparse.Namespace) -> int:
    sub = ctx.subscription(args.subscription) if args.subscription else None
    rows = ctx.store.list_bookmarks(sub_uuid=sub.uuid if sub else None, client=args.machine)
    if not rows:
        ctx.out.note("no bookmark matches")
        return 0
    what = (
        f"{len(rows)} bookmark(s)"
        + (f" of {sub.name}" if sub else " of every subscription")
        + (f" for {args.machine}" if args.machine else "")
    )
    ctx.out.warn(
        f"deleting {what}: those sources restart from their next event (or from the oldest one when "
        "read_existing_events = true); events in between are not sent"
    )
    if not ctx.confirm(f"delete {what}?", args.yes):
        raise CliError("nothing changed")
    count = ctx.store.delete_bookmarks(sub_uuid=sub.uuid if sub else None, client=args.machine)
    ctx.out.note(f"deleted {count} bookmark(s)")
    return 0


def cmd_bookmarks_copy(ctx: Context, args: argparse.Namespace) -> int:
    src = ctx.subscription(args.source)
    dst = ctx.subscription(args.destination)
    count = len(ctx.store.list_bookmarks(sub_uuid=src.uuid))
    existing = len(ctx.store.list_bookmarks(sub_uuid=dst.uuid))
    ctx.out.note(f"copy {count} bookmark(s) from {src.name} to {dst.name} ({existing} there now, replaced)")
    if existing and not ctx.confirm(f"replace the bookmarks of {dst.name}?", args.yes):
        raise CliError("nothing changed")
    copied = ctx.store.copy_bookmarks(src.uuid, dst.uuid)
    ctx.out.note(f"copied {copied} bookmark(s)")
    return 0


# --- parser ------------------------------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("heartbeats", help="when each source was last heard of")
    p.add_argument("-s", "--subscription", help="only this subscription (uuid or name)")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "-m", "--machine", help="only this source: its principal (DEMO01$@REALM), short name or FQDN"
    )  # fmt: skip
    who.add_argument("-a", "--address", help="only this IP address")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_heartbeats)

    p = sub.add_parser("stats", help="machines per subscription: total, active, alive, dead")
    p.add_argument("-s", "--subscription", help="only this subscription (uuid or name)")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text")
    p.add_argument("-i", "--interval", type=int, metavar="S", help="window (default: heartbeat_interval)")
    p.add_argument("--at", metavar="TIME", help="classify as of TIME (ISO 8601) instead of now")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("bookmarks", help="where each source resumes")
    bs = p.add_subparsers(dest="bookmarks_command", required=True, metavar="VERB")
    x = bs.add_parser("show", help="the stored bookmarks of a subscription")
    x.add_argument("subscription")
    x.add_argument("-m", "--machine", help="only this source: its principal, short name or FQDN")
    x.add_argument("-f", "--format", choices=("text", "json"), default="text")
    x.set_defaults(func=cmd_bookmarks_show)
    x = bs.add_parser("delete", help="forget bookmarks: sources restart from their next event")
    x.add_argument("-s", "--subscription", help="only this subscription (default: all)")
    x.add_argument("-m", "--machine", help="only this source")
    x.add_argument("-y", "--yes", action="store_true")
    x.set_defaults(func=cmd_bookmarks_delete)
    x = bs.add_parser("copy", help="copy every bookmark of one subscription to another")
    x.add_argument("source")
    x.add_argument("destination")
    x.add_argument("-y", "--yes", action="store_true")
    x.set_defaults(func=cmd_bookmarks_copy)
