# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec db init|status|upgrade|downgrade|copy-from``: the schema, with a report before any change.

``init`` creates the schema (or completes it) and is safe to re-run, so it does not ask.
``upgrade`` and ``downgrade`` print the migrations they will apply or undo and ask first
(``--yes`` for scripts): a downgrade drops what the newer schema added. ``copy-from`` moves a
single-node SQLite installation into the configured database (docs/high-availability.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from wec.cli.common import EXIT_USAGE, CliError, Context
from wec.config import describe_database

__all__ = ["add_parsers"]


def _with_store(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.open_store(check=False)
    try:
        return int(args.db_func(ctx, store, args))
    finally:
        store.close()


def _init(ctx: Context, store: Any, args: argparse.Namespace) -> int:
    pending = store.migrations_pending()
    for m in pending:
        ctx.out.note(f"apply {m.version:04d}_{m.name}")
    before = store.schema_version()
    store.init()
    after = store.schema_version()
    if not pending:
        ctx.out.line(f"database already at schema version {after}")
    else:
        ctx.out.line(f"database at schema version {after}" + ("" if before is None else f" (was {before})"))
    return 0


def _status(ctx: Context, store: Any, args: argparse.Namespace) -> int:
    current, latest = store.schema_version(), store.latest_version()
    pending = store.migrations_pending()
    settings = ctx.settings
    source = settings.source if settings is not None else None
    database = describe_database(settings.database) if settings is not None else None
    if args.format == "json":
        ctx.out.json(
            {
                "settings": source,
                "database": database,
                "schema_version": current,
                "latest_version": latest,
                "pending": [{"version": m.version, "name": m.name} for m in pending],
                "ok": current == latest,
            }
        )
        return 0
    # Which file and which database: a relative -c from the wrong directory shows here.
    ctx.out.line(f"settings: {source}")
    ctx.out.line(f"database: {database}")
    ctx.out.line(f"schema version: {current if current is not None else 'none (run `wec db init`)'}")
    ctx.out.line(f"this wec needs: {latest}")
    for m in pending:
        ctx.out.line(f"pending: {m.version:04d}_{m.name}")
    if current is not None and current > latest:
        ctx.out.line("the database is newer than this wec: run the newer wec, or downgrade with it")
    return 0


def _upgrade(ctx: Context, store: Any, args: argparse.Namespace) -> int:
    current = store.schema_version()
    if current is not None and current > store.latest_version():
        raise CliError(
            f"the database has schema version {current}, newer than this wec knows "
            f"({store.latest_version()})",
            3,
        )
    pending = store.migrations_pending()
    if not pending:
        ctx.out.line(f"database is up to date (schema version {current})")
        return 0
    for m in pending:
        ctx.out.note(f"will apply {m.version:04d}_{m.name}")
    if not ctx.confirm(f"upgrade the schema from {current or 0} to {pending[-1].version}?", args.yes):
        raise CliError("nothing changed")
    store.upgrade(None)
    ctx.out.line(f"database at schema version {store.schema_version()}")
    return 0


def _downgrade(ctx: Context, store: Any, args: argparse.Namespace) -> int:
    current = store.schema_version() or 0
    target = current - 1 if args.to is None else args.to
    if target < 0:
        raise CliError("the database has no schema: nothing to downgrade", EXIT_USAGE)
    if target >= current:
        ctx.out.line(f"database at schema version {current}: nothing to undo for version {target}")
        return 0
    undo = store.migrations_to_undo(target)
    for m in undo:
        ctx.out.note(f"will undo {m.version:04d}_{m.name}")
    ctx.out.warn(
        f"what schema versions above {target} hold is lost" + (" (every table)" if target == 0 else "")
    )
    if not ctx.confirm(f"downgrade the schema from {current} to {target}?", args.yes):
        raise CliError("nothing changed")
    store.downgrade(target)
    ctx.out.line(f"database at schema version {store.schema_version() or 0}")
    return 0


def _copy_from(ctx: Context, store: Any, args: argparse.Namespace) -> int:
    from wec.store.base import SchemaMismatch
    from wec.store.copy import copy_store
    from wec.store.sqlite import SQLiteStore

    store.check_schema()  # the destination: `wec db init` first
    source = SQLiteStore(args.sqlite)
    try:
        try:
            source.check_schema()
        except SchemaMismatch as err:
            raise CliError(f"source {args.sqlite}: {err}", 3) from err
        ctx.out.note(
            f"copy {len(source.list_subscriptions())} subscription(s), {len(source.list_bookmarks())} "
            f"bookmark(s) and the heartbeats of {args.sqlite} into the configured database"
        )
        if not ctx.confirm("copy them (same keys are overwritten)?", args.yes):
            raise CliError("nothing changed")
        report = copy_store(source, store)
    finally:
        source.close()
    ctx.out.line(
        f"copied {report.subscriptions} subscription(s), {report.bookmarks} bookmark(s), "
        f"{report.heartbeats} heartbeat(s)"
    )
    return 0


def add_parsers(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema: init, status, upgrade, downgrade")
    dbs = db.add_subparsers(dest="db_command", required=True, metavar="VERB")
    p = dbs.add_parser("init", help="create the schema, or migrate it to the latest version")
    p.set_defaults(db_func=_init)
    p = dbs.add_parser("status", help="the schema version and pending migrations")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text")
    p.set_defaults(db_func=_status)
    p = dbs.add_parser("upgrade", help="apply pending migrations (lists them and asks first)")
    p.add_argument("-y", "--yes", action="store_true")
    p.set_defaults(db_func=_upgrade)
    p = dbs.add_parser("downgrade", help="undo migrations down to a version (lists them and asks first)")
    p.add_argument("to", type=int, nargs="?", help="target version (default: one step down)")
    p.add_argument("-y", "--yes", action="store_true")
    p.set_defaults(db_func=_downgrade)
    p = dbs.add_parser(
        "copy-from", help="copy a SQLite database (subscriptions, bookmarks, heartbeats) into this one"
    )
    p.add_argument("sqlite", help="the SQLite database file of the single-node installation")
    p.add_argument("-y", "--yes", action="store_true")
    p.set_defaults(db_func=_copy_from)
    db.set_defaults(func=_with_store)
