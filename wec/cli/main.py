# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec``: the administration CLI (OpenWEC's ``openwec`` verbs).

A thin shell: it parses arguments, calls the store and the subscription modules, and prints.
Exit codes: 0 success, 1 operation failed, 2 bad usage or settings, 3 database schema problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from wec import __version__
from wec.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings

__all__ = ["main"]


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _store(settings: Settings, *, check: bool = True) -> Any:
    from wec.store import open_store

    store = open_store(settings.database)
    if check:
        store.check_schema()
    return store


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(f"{question} — not a terminal: use --yes to confirm", 2)
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


# --- db -------------------------------------------------------------------------------------


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    store = _store(settings, check=False)
    try:
        if args.db_command == "init":
            before = store.schema_version()
            store.init()
            print(
                f"database ready at schema version {store.schema_version()}"
                + ("" if before is None else f" (was {before})")
            )
        elif args.db_command == "status":
            pending = store.migrations_pending()
            print(f"schema version: {store.schema_version()}; pending migrations: {len(pending)}")
            for m in pending:
                print(f"  {m.version} {m.name}")
        elif args.db_command == "upgrade":
            pending = store.migrations_pending()
            if not pending:
                print("database is up to date")
                return 0
            for m in pending:
                print(f"will apply {m.version} {m.name}")
            if _confirm("apply these migrations?", args.yes):
                store.upgrade(None)
                print(f"database at schema version {store.schema_version()}")
        elif args.db_command == "downgrade":
            print(f"will downgrade from {store.schema_version()} to {args.to}")
            if _confirm("downgrade the schema (data of newer tables may be lost)?", args.yes):
                store.downgrade(args.to)
                print(f"database at schema version {store.schema_version()}")
    finally:
        store.close()
    return 0


# --- subscriptions ---------------------------------------------------------------------------


def cmd_subscriptions_list(settings: Settings, args: argparse.Namespace) -> int:
    store = _store(settings)
    try:
        subs = store.list_subscriptions()
    finally:
        store.close()
    if getattr(args, "enabled", False):
        subs = [s for s in subs if s.enabled]
    if getattr(args, "disabled", False):
        subs = [s for s in subs if not s.enabled]
    for s in sorted(subs, key=lambda s: s.name):
        state = "enabled" if s.enabled else "disabled"
        outputs = ", ".join(f"{o.driver}/{o.format}" + ("" if o.enabled else " (off)") for o in s.outputs)
        print(f"[{state}] {s.name} ({s.uuid}) outputs: {outputs or '-'}")
    if not subs:
        print("no subscription")
    return 0


def cmd_subscriptions_load(settings: Settings, args: argparse.Namespace) -> int:
    from wec.subscriptions.files import SubscriptionFileError, load_path
    from wec.subscriptions.sync import apply_load, plan_load

    try:
        loaded = load_path(args.path, revision=args.revision)
    except SubscriptionFileError as err:
        raise CliError(str(err), 2) from err
    store = _store(settings)
    try:
        plan = plan_load(store, loaded, keep=args.keep)
        print(plan.report())
        if plan.is_empty():
            return 0
        destructive = bool(plan.to_delete)
        if destructive and not _confirm(
            f"delete {len(plan.to_delete)} subscription(s) not in {args.path}?", args.yes
        ):
            print("nothing changed")
            return 1
        apply_load(store, plan)
        print("done")
    finally:
        store.close()
    return 0


def cmd_subscriptions_skell(settings: Settings | None, args: argparse.Namespace) -> int:
    from wec.subscriptions.files import skeleton

    sys.stdout.write(skeleton(minimal=args.minimal))
    return 0


# --- sim ---------------------------------------------------------------------------------------


def cmd_sim(argv: Sequence[str]) -> int:
    from wec.sim.cli import main as sim_main

    return int(sim_main(list(argv)))


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wec", description="wec administration (OpenWEC-compatible verbs)")
    p.add_argument(
        "-c", "--config", default=None, help=f"settings file (default: $WEC_CONFIG or {DEFAULT_CONFIG_PATH})"
    )
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("--version", action="version", version=f"wec {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema")
    dbs = db.add_subparsers(dest="db_command", required=True)
    dbs.add_parser("init", help="create the schema (or migrate it to the latest version)")
    dbs.add_parser("status", help="show the schema version and pending migrations")
    up = dbs.add_parser("upgrade", help="apply pending migrations (shows them first)")
    up.add_argument("-y", "--yes", action="store_true")
    down = dbs.add_parser("downgrade", help="revert migrations down to a version")
    down.add_argument("to", type=int)
    down.add_argument("-y", "--yes", action="store_true")
    db.set_defaults(func=cmd_db)

    subs = sub.add_parser("subscriptions", help="manage subscriptions")
    subs.add_argument("-e", "--enabled", action="store_true", help="only enabled ones")
    subs.add_argument("-d", "--disabled", action="store_true", help="only disabled ones")
    subs.set_defaults(func=cmd_subscriptions_list)
    ss = subs.add_subparsers(dest="sub_command")
    load = ss.add_parser("load", help="load subscription files (a file or a directory)")
    load.add_argument("path")
    load.add_argument(
        "-k",
        "--keep",
        action="store_true",
        help="keep subscriptions that are not in PATH (default: delete them)",
    )
    load.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    load.add_argument("-r", "--revision", default=None, help="revision to record (e.g. a git commit)")
    load.set_defaults(func=cmd_subscriptions_load)
    skell = ss.add_parser("skell", help="print a commented subscription template")
    skell.add_argument("--minimal", action="store_true")
    skell.set_defaults(func=cmd_subscriptions_skell, no_settings=True)
    lst = ss.add_parser("list", help="list subscriptions (the default)")
    lst.add_argument("-e", "--enabled", action="store_true")
    lst.add_argument("-d", "--disabled", action="store_true")
    lst.set_defaults(func=cmd_subscriptions_list)

    sub.add_parser("sim", help="Windows-source simulator (wec sim --help)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `wec [-c FILE] sim ...` hands everything after `sim` to the simulator's own parser.
    if "sim" in argv:
        i = argv.index("sim")
        if all(a.startswith("-") or argv[j - 1] in ("-c", "--config") for j, a in enumerate(argv[:i])):
            return cmd_sim(argv[i + 1 :])
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[..., int] = args.func
    try:
        if getattr(args, "no_settings", False):
            return func(None, args)
        settings = load_settings(args.config)
        return func(settings, args)
    except ConfigError as err:
        print(f"wec: {err}", file=sys.stderr)
        return 2
    except CliError as err:
        print(f"wec: {err}", file=sys.stderr)
        return err.code
    except Exception as err:
        from wec.store import SchemaMismatch

        if isinstance(err, SchemaMismatch):
            print(f"wec: {err}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
