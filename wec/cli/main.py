# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec``: the administration CLI, with OpenWEC's ``openwec`` verbs (docs/cli.md).

A thin shell: it parses arguments, calls the store and the subscription modules, and prints
(tables on a terminal, plain aligned text otherwise, JSON with ``--format json``). Every verb
is documented with an example in docs/cli.md.

Exit codes: 0 success, 1 operation failed, 2 bad usage or settings, 3 database schema problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO

from wec import __version__
from wec.cli import db as db_cli
from wec.cli import machines as machines_cli
from wec.cli import subscriptions as subscriptions_cli
from wec.cli.common import EXIT_FAILED, EXIT_SCHEMA, EXIT_USAGE, CliError, Context
from wec.cli.render import Out
from wec.config import DEFAULT_CONFIG_PATH, ConfigError, describe_database, load_settings
from wec.permissions import apply_umask

__all__ = ["build_parser", "main"]


def cmd_sim(argv: Sequence[str]) -> int:
    from wec.sim.cli import main as sim_main

    return int(sim_main(list(argv)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wec",
        description="wec administration (OpenWEC-compatible verbs). See docs/cli.md.",
        epilog="exit codes: 0 ok, 1 operation failed, 2 usage or settings error, 3 database schema problem",
    )
    p.add_argument(
        "-c", "--config", default=None, help=f"settings file (default: $WEC_CONFIG or {DEFAULT_CONFIG_PATH})"
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="name the settings file and database used; show tracebacks of unexpected errors",
    )
    p.add_argument("--version", action="version", version=f"wec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subscriptions_cli.add_parsers(sub)
    machines_cli.add_parsers(sub)
    db_cli.add_parsers(sub)
    sub.add_parser("sim", help="Windows-source simulator (wec sim --help)", add_help=False)
    return p


def _sim_argv(argv: list[str]) -> list[str] | None:
    """``wec [-c FILE] [-v] sim ...``: everything after ``sim`` goes to the simulator's parser."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "sim":
            return argv[i + 1 :]
        if a in ("-c", "--config"):
            i += 2
            continue
        if not a.startswith("-"):
            return None
        i += 1
    return None


def main(argv: list[str] | None = None, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None,
         stdin: IO[str] | None = None) -> int:  # fmt: skip
    argv = list(sys.argv[1:] if argv is None else argv)
    sim = _sim_argv(argv)
    if sim is not None:
        return cmd_sim(sim)
    out = Out(stdout, stderr)
    parser = build_parser()
    try:
        saved = sys.stdout, sys.stderr
        # argparse prints usage and --help to sys.stdout/sys.stderr: follow our streams.
        sys.stdout, sys.stderr = out.stdout, out.stderr
        try:
            args = parser.parse_args(argv)
        finally:
            sys.stdout, sys.stderr = saved
    except SystemExit as exc:  # usage errors (2) and --help/--version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    func: Callable[[Context, argparse.Namespace], int] = args.func
    ctx = Context(settings=None, out=out, stdin=stdin or sys.stdin)
    # `wec db init` creates the state database, `subscriptions load` may too. Restored after
    # the command: main() also runs inside other programs (tests, wec.demo).
    previous_umask = apply_umask()
    try:
        return _run(ctx, args, func, out)
    finally:
        os.umask(previous_umask)


def _run(
    ctx: Context, args: argparse.Namespace, func: Callable[[Context, argparse.Namespace], int], out: Out
) -> int:
    try:
        if not getattr(args, "no_settings", False):
            ctx.settings = load_settings(args.config)
            if args.verbose:
                out.note(f"settings: {ctx.settings.source}")
                out.note(f"database: {describe_database(ctx.settings.database)}")
        return int(func(ctx, args))
    except ConfigError as err:
        out.error(str(err))
        return EXIT_USAGE
    except CliError as err:
        out.error(str(err))
        return err.code
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_FAILED
    except Exception as err:
        from wec.store import SchemaMismatch, StoreError

        if isinstance(err, SchemaMismatch):
            out.error(str(err))
            return EXIT_SCHEMA
        if isinstance(err, StoreError):
            out.error(str(err))
            return EXIT_FAILED
        if args.verbose:
            raise
        out.error(f"unexpected error: {type(err).__name__}: {err} (run with -v for the traceback)")
        return EXIT_FAILED
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
