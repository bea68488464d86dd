# SPDX-License-Identifier: GPL-3.0-or-later
"""``wecd --check`` as a process: outputs are checked with the collector's settings, and an
unset ``server.keytab`` is said, not silently replaced by the system keytab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Cli, settings_text, subscription_file
from tests.support.kdc import Kdc

ROOT = Path(__file__).resolve().parents[2]
KAFKA = '[[outputs]]\ndriver = "Kafka"\nformat = "Json"\nconfig = { topic = "wec" }\n'


def _wecd_check(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WEC_")}
    return subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(config), "--check"],
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(cli: Cli, kdc: Kdc | None, extra: str = "") -> None:
    text = settings_text(cli.db)
    if kdc is not None:
        text = text.replace("[server]\n", f'[server]\nkeytab = "{kdc.service_keytab}"\n', 1)
    cli.config.write_text(text + extra)


def test_check_runs_each_output_driver_with_the_collector_settings(cli: Cli, kdc: Kdc) -> None:
    # Issue 15: a Kafka output without bootstrap.servers passed `wecd --check`. The file load
    # accepts it (the brokers may come from the collector's [outputs.kafka]); --check has them.
    sub = subscription_file("kafka").split("[[outputs]]")[0] + KAFKA
    cli.ok("subscriptions", "load", str(cli.write("kafka.toml", sub)))
    _settings(cli, kdc)

    refused = _wecd_check(cli.config)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "subscription kafka output #1 (Kafka/Json)" in refused.stderr
    assert "bootstrap.servers" in refused.stderr

    _settings(cli, kdc, '\n[outputs.kafka]\noptions = { "bootstrap.servers" = "127.0.0.1:9" }\n')
    ok = _wecd_check(cli.config)
    assert ok.returncode == 0, ok.stderr
    assert "outputs OK" in ok.stdout and "note:" not in ok.stdout


def test_check_says_when_the_system_keytab_is_used(cli: Cli, kdc: Kdc) -> None:
    _settings(cli, None)

    r = _wecd_check(cli.config, KRB5_KTNAME=f"FILE:{kdc.service_keytab}")

    assert r.returncode == 0, r.stderr
    assert (
        f"note: server.keytab is not set: using the system keytab (KRB5_KTNAME=FILE:{kdc.service_keytab})"
        in r.stdout
    )


def test_the_keytab_note_is_given_only_when_the_keytab_is_unset(cli: Cli, kdc: Kdc) -> None:
    from wec.config import load_settings
    from wec.daemon import keytab_notes

    _settings(cli, None)
    (note,) = keytab_notes(load_settings(str(cli.config), environ={}))
    assert note.startswith("server.keytab is not set: using the system keytab")
    _settings(cli, kdc)
    assert keytab_notes(load_settings(str(cli.config), environ={})) == []
