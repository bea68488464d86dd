# SPDX-License-Identifier: GPL-3.0-or-later
"""``wecd``: the collector daemon."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from wec import __version__
from wec.config import DEFAULT_CONFIG_PATH, ConfigError, describe_database, load_settings
from wec.logsetup import setup_logging
from wec.permissions import apply_umask

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wecd", description="Windows Event Forwarding collector")
    parser.add_argument(
        "-c", "--config", default=None, help=f"settings file (default: $WEC_CONFIG or {DEFAULT_CONFIG_PATH})"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logs (-vv: debug)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the settings, the database schema, the keytab and the outputs, then exit",
    )
    parser.add_argument("--version", action="version", version=f"wecd {__version__}")
    args = parser.parse_args(argv)
    apply_umask()  # before anything creates a file: state, outputs, logs
    try:
        settings = load_settings(args.config)
    except ConfigError as err:
        print(f"wecd: {err}", file=sys.stderr)
        return 2
    setup_logging(settings.logging, args.verbose)
    log = logging.getLogger("wecd")
    log.info("settings: %s", settings.source)
    log.info("database: %s", describe_database(settings.database))
    if settings.server.worker_processes > 1 and settings.monitoring is not None:
        # Must happen before prometheus_client is imported (by wec.daemon, just below).
        from wec.metrics_env import prepare_multiprocess

        prepare_multiprocess(os.path.join(settings.server.state_dir or ".", "metrics"))
    from wec.auth.errors import KerberosConfigError
    from wec.daemon import Daemon
    from wec.store import SchemaMismatch

    daemon = Daemon(settings)
    try:
        if args.check:
            from wec.daemon import check

            for note in check(settings):
                print(f"wecd: note: {note}")
            print(f"wecd: {settings.source}: settings, database schema, keytab and outputs OK")
            return 0
        daemon.run()
    except ConfigError as err:
        print(f"wecd: {err}", file=sys.stderr)
        return 2
    except KerberosConfigError as err:
        log.error("Kerberos configuration: %s", err)
        print(f"wecd: Kerberos configuration: {err}", file=sys.stderr)
        return 2
    except SchemaMismatch as err:
        log.error("%s", err)
        print(f"wecd: {err}", file=sys.stderr)
        return 3
    except Exception as err:
        log.exception("fatal error")
        print(f"wecd: fatal: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
