# SPDX-License-Identifier: GPL-3.0-or-later
"""Attacks on what wecd prints and creates: forged log lines, leaked credentials, permissions.

Each runs against the real wecd over real sockets (docs/security.md).
"""

from __future__ import annotations

import socket
import stat
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import run_sim, saw_status
from tests.e2e.harness import Collector, subscription_toml
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e

FORGED = "2026-01-01 00:00:00,000 CRITICAL wec.forged - attacker wrote this"


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_a_newline_in_an_unauthenticated_path_cannot_forge_a_log_line(collector: Collector) -> None:
    collector.start()
    forged_path = "/wsman/x%0a" + FORGED.replace(" ", "%20") + "%0d%0a%1b[31m"
    for method in ("GET", "POST"):
        answer = _raw_request(
            collector.port,
            f"{method} {forged_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode(),
        )
        assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
    assert collector.wait_for(lambda: "attacker wrote this" in collector.logs(), 10)
    for name in ("wecd.log", "access.log"):
        text = (collector.directory / name).read_text()
        assert "attacker" in text  # the request is logged (the access log keeps the raw URI)
        for line in text.splitlines():
            assert not line.startswith("2026-01-01"), f"forged record in {name}: {line!r}"
            assert "\x1b" not in line
    assert "x\\n2026-01-01" in collector.logs()  # shown, escaped, on the request's own line


def test_output_credentials_never_reach_the_logs(collector: Collector, keytab_dir: Path) -> None:
    closed = free_port()
    outputs = textwrap.dedent(f"""\
        [[outputs]]
        driver = "Redis"
        format = "Raw"
        config = {{ addr = "wec:S3cretPassw0rd@127.0.0.1:{closed}", list = "wec", timeout = 2 }}
        """)
    collector.add_subscription(subscription_toml(outputs=outputs))
    collector.start()
    summary = run_sim(collector, keytab_dir, machines=1, events=4, batch=4, max_retries=1)
    assert summary.events_acked == 0  # the output is down: nothing acknowledged
    assert saw_status(collector, 503)
    assert collector.wait_for(lambda: "output(s) failed" in collector.logs(), 10)
    logs = collector.logs()
    assert "S3cretPassw0rd" not in logs
    assert "wec:***@127.0.0.1" in logs
    shown = collector.wec("subscriptions", "show", "e2e-security").stdout
    assert "S3cretPassw0rd" not in shown and "***" in shown
    as_json = collector.wec("subscriptions", "show", "e2e-security", "--format", "json").stdout
    assert "S3cretPassw0rd" not in as_json
    clear = collector.wec("subscriptions", "show", "e2e-security", "--show-secrets").stdout
    assert "S3cretPassw0rd" in clear


def test_state_and_outputs_are_not_readable_by_every_user(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    summary = run_sim(collector, keytab_dir, machines=1, events=4, batch=4)
    assert summary.ok, summary
    db = collector.directory / "wec.sqlite"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for extra in ("wec.sqlite-wal", "wec.sqlite-shm"):
        path = collector.directory / extra
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, extra
    files = collector.output_files()
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750, path.parent
    for log in ("wecd.log", "access.log"):
        # Created by the test harness or by wecd: never writable by others.
        assert not stat.S_IMODE((collector.directory / log).stat().st_mode) & stat.S_IWOTH


def test_check_reports_a_keytab_readable_by_every_user(collector: Collector) -> None:
    collector.wec("db", "init")
    keytab = collector.directory / "http.keytab"
    keytab.write_bytes(Path(collector.kdc.service_keytab).read_bytes())
    keytab.chmod(0o644)
    text = collector.config.read_text().replace(str(collector.kdc.service_keytab), str(keytab))
    collector.config.write_text(text)
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "wec.cli.wecd", "-c", str(collector.config), "--check"],
        env=collector.env(),
        cwd=collector.directory,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"note: {keytab} is readable by every user" in proc.stdout
