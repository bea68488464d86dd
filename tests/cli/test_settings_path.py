# SPDX-License-Identifier: GPL-3.0-or-later
"""Which settings file a relative ``-c`` (or ``$WEC_CONFIG``) names: the one under the current
directory, never one found by searching the folders around the installed program.

The programs run as processes from an installed-looking layout: ``install/bin/wec`` next to
``install/state/wec.toml`` (a demo's settings and database), run from ``elsewhere/`` which has
its own ``state/wec.toml``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kdc import Kdc
from wec.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]

_SETTINGS = """\
[server]
keytab = "{keytab}"
state_dir = "{state}"

[database]
type = "SQLite"
path = "{db}"

[[collectors]]
listen_address = "127.0.0.1"

[collectors.authentication]
type = "Kerberos"
"""


class Layout:
    def __init__(self, tmp_path: Path, keytab: str | Path) -> None:
        self.install = tmp_path / "install"
        self.elsewhere = tmp_path / "elsewhere"
        (self.install / "bin").mkdir(parents=True)
        for name, module in (("wec", "wec.cli.main"), ("wecd", "wec.cli.wecd")):
            program = self.install / "bin" / name
            program.write_text(
                f"#!{sys.executable}\nimport sys\nfrom {module} import main\nsys.exit(main())\n"
            )
            program.chmod(0o755)
        # As the demo writes them: an absolute state_dir, the database relative to it.
        self.demo_db = self.install / "state" / "demo.sqlite"
        self.my_db = self.elsewhere / "state" / "mine.sqlite"
        for db in (self.demo_db, self.my_db):
            db.parent.mkdir(parents=True)
            (db.parent / "wec.toml").write_text(_SETTINGS.format(keytab=keytab, state=db.parent, db=db.name))
        self.my_settings = self.elsewhere / "state" / "wec.toml"

    def run(self, program: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("WEC_")}
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
        environ.update(env)
        return subprocess.run(
            [str(self.install / "bin" / program), *args],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path, "/nonexistent/http.keytab")


def test_a_relative_config_is_the_file_under_the_current_directory(layout: Layout) -> None:
    init = layout.run("wec", "-c", "state/wec.toml", "db", "init", cwd=layout.elsewhere)

    assert init.returncode == 0, init.stderr
    assert layout.my_db.is_file()
    assert not layout.demo_db.exists(), "the demo's database next to the program was used"

    status = layout.run("wec", "-v", "-c", "state/wec.toml", "db", "status", cwd=layout.elsewhere)

    assert status.returncode == 0, status.stderr
    assert f"settings: {layout.my_settings}\n" in status.stdout
    assert f"database: SQLite {layout.my_db}\n" in status.stdout
    assert f"settings: {layout.my_settings}\n" in status.stderr  # -v names them on every verb
    assert not layout.demo_db.exists()


def test_a_relative_wec_config_variable_is_resolved_the_same_way(layout: Layout) -> None:
    status = layout.run(
        "wec", "db", "status", "-f", "json", cwd=layout.elsewhere, WEC_CONFIG="state/wec.toml"
    )

    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["settings"] == str(layout.my_settings)
    assert report["database"] == f"SQLite {layout.my_db}"
    assert not layout.demo_db.exists()


def test_run_from_the_install_directory_it_is_the_demo(layout: Layout) -> None:
    # README: `.venv/bin/wec -c state/wec.toml subscriptions` from the repository root.
    assert layout.run("wec", "-c", "state/wec.toml", "db", "init", cwd=layout.install).returncode == 0
    listed = layout.run("wec", "-c", "state/wec.toml", "subscriptions", cwd=layout.install)

    assert listed.returncode == 0, listed.stderr
    assert layout.demo_db.is_file()
    assert not layout.my_db.exists()


def test_a_missing_settings_file_is_refused_with_its_absolute_path(layout: Layout) -> None:
    (layout.install / "state" / "other.toml").write_text((layout.install / "state" / "wec.toml").read_text())

    result = layout.run("wec", "-c", "state/other.toml", "subscriptions", cwd=layout.elsewhere)

    assert result.returncode == 2
    assert f"settings file not found: {layout.elsewhere / 'state' / 'other.toml'}" in result.stderr
    assert not layout.demo_db.exists()


def test_wecd_reads_the_relative_config_under_the_current_directory(tmp_path: Path, kdc: Kdc) -> None:
    layout = Layout(tmp_path, kdc.service_keytab)
    store = SQLiteStore(str(layout.my_db))
    store.init()
    store.close()

    check = layout.run("wecd", "-c", "state/wec.toml", "-v", "--check", cwd=layout.elsewhere)

    assert not layout.demo_db.exists(), "wecd opened the demo's database next to the program"
    assert check.returncode == 0, check.stderr
    assert f"wecd: {layout.my_settings}: settings, database schema, keytab and outputs OK" in check.stdout
    assert f"database: SQLite {layout.my_db}" in check.stderr  # -v: the start-up log names it
