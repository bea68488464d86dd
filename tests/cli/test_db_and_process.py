# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec db`` verbs, exit codes, and the CLI as a real process (``python -m wec.cli.main``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Cli, settings_text
from wec.store._migrations import sqlite_migrations
from wec.store.sqlite import SQLiteStore

LATEST = sqlite_migrations()[-1].version


def _fresh(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_init_reports_the_migrations_and_is_idempotent(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    status = cli.ok("db", "status", "-f", "json").json()
    assert status["schema_version"] is None and status["ok"] is False
    assert [p["version"] for p in status["pending"]] == list(range(1, LATEST + 1))
    r = cli.ok("db", "init")
    assert "apply 0001_init" in r.err and f"schema version {LATEST}" in r.out
    assert "already" in cli.ok("db", "init").out
    assert cli.ok("db", "status", "-f", "json").json()["ok"] is True


def test_downgrade_and_upgrade_report_and_ask_first(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    cli.ok("db", "init")
    asked = cli("db", "downgrade")
    assert asked.code == 2 and f"will undo {LATEST:04d}_" in asked.err
    assert cli.ok("db", "status", "-f", "json").json()["schema_version"] == LATEST  # nothing changed
    cli.ok("db", "downgrade", "--yes")
    assert cli.ok("db", "status", "-f", "json").json()["schema_version"] == LATEST - 1
    # the server and every verb refuse a database that is not at the latest schema: exit 3
    r = cli("subscriptions")
    assert r.code == 3 and "wec db upgrade" in r.err
    asked = cli("db", "upgrade")
    assert asked.code == 2 and f"will apply {LATEST:04d}_" in asked.err
    cli.ok("db", "upgrade", "-y")
    assert cli.ok("subscriptions").code == 0
    assert "up to date" in cli.ok("db", "upgrade").out
    cli.ok("db", "downgrade", "0", "-y")
    store = SQLiteStore(str(cli.db))
    assert store.schema_version() is None
    store.close()


def test_a_database_newer_than_this_wec_is_exit_3(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    cli.ok("db", "init")
    import sqlite3

    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    assert cli("subscriptions").code == 3
    r = cli("db", "upgrade", "-y")
    assert r.code == 3 and "newer" in r.err


def test_settings_problems_are_exit_2(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    cli.config.write_text(settings_text(cli.db) + "\n[bogus]\nx = 1\n")
    r = cli("subscriptions")
    assert r.code == 2 and "bogus" in r.err
    missing = cli.__class__(tmp_path)
    missing.config.unlink()
    assert missing("stats").code == 2


def test_usage_errors_are_exit_2_and_help_is_0(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    bad = cli("subscriptions", "frobnicate")
    assert bad.code == 2 and "invalid choice" in bad.err
    assert cli("--help").code == 0
    assert cli("subscriptions", "edit", "--help").code == 0


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wec.cli.main", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
    )


def test_the_cli_as_a_process(tmp_path: Path) -> None:
    cli = _fresh(tmp_path)
    not_ready = _run(cli.config, "subscriptions")
    assert not_ready.returncode == 3 and "wec db init" in not_ready.stderr
    assert _run(cli.config, "db", "init").returncode == 0
    skell = tmp_path / "s.toml"
    skell.write_text(_run(cli.config, "subscriptions", "skell").stdout)
    assert _run(cli.config, "subscriptions", "load", str(skell)).returncode == 0
    listed = _run(cli.config, "subscriptions")
    assert listed.returncode == 0 and "my-subscription" in listed.stdout and "\x1b[" not in listed.stdout
    missing = _run(cli.config, "subscriptions", "show", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("wec: no subscription")
    exported = subprocess.run(
        [sys.executable, "-m", "wec.cli.main", "-c", str(cli.config),
         "subscriptions", "export", "-f", "windows",
         "my-subscription"],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0 and exported.stdout.startswith(b"\xff\xfe<\x00?\x00x\x00m\x00l\x00")
