# SPDX-License-Identifier: GPL-3.0-or-later
"""Start-up checks of wecd, and the README's demo command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import output_keys, run_sim
from tests.e2e.harness import ROOT, Collector, subscription_toml
from tests.support.kdc import Kdc
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


def test_wecd_refuses_to_start_on_a_database_without_schema(collector: Collector) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(collector.config)],
        env=collector.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert "wec db init" in proc.stderr


def test_wecd_refuses_a_keytab_without_the_configured_spn(tmp_path: Path, kdc: Kdc) -> None:
    c = Collector(tmp_path / "c", kdc)
    c.config.write_text(c.config.read_text().replace("HTTP/wec.test.local@", "HTTP/other.test.local@"))
    c.wec("db", "init")
    proc = subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(c.config)],
        env=c.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Kerberos" in proc.stderr


def test_wecd_check_validates_settings_and_schema(collector: Collector) -> None:
    collector.wec("db", "init")
    proc = subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "--check", "-c", str(collector.config)],
        env=collector.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_events_with_characters_illegal_in_xml_are_delivered(
    tmp_path: Path, kdc: Kdc, keytab_dir: Path
) -> None:
    c = Collector(tmp_path / "c", kdc)
    c.add_subscription(subscription_toml())
    try:
        c.start()
        summary = run_sim(c, keytab_dir, machines=1, events=30, batch=10, illegal_char_every=3)
        assert summary.ok, summary.to_dict()
        assert len(output_keys(c)) == 30
        text = "".join(p.read_text() for p in c.output_files())
        assert "\\u{5}" in text and "\x05" not in text  # docs/protocol.md §3.8 substitution
    finally:
        c.stop()


def test_readme_demo_runs_and_shows_events(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))}
    for key in ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME"):
        env.pop(key, None)  # the demo brings its own KDC
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wec.demo",
            "--state",
            str(tmp_path / "state"),
            "--port",
            str(free_port()),
            "--machines",
            "2",
            "--events",
            "30",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "60 events acked of 60 sent" in proc.stdout
    jsonl = list((tmp_path / "state" / "events").rglob("*.jsonl"))
    assert len(jsonl) == 2
    assert sum(len(p.read_text().splitlines()) for p in jsonl) == 60
