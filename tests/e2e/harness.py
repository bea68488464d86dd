# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the real collector (``wecd`` in its own process) against a real KDC for e2e tests.

Each :class:`Collector` has its own directory: settings, SQLite database, subscription files
and output files. The process is started with the KDC's environment, waited for on its port,
and stopped by PID (SIGTERM, or SIGKILL for the crash tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port

__all__ = ["SUBSCRIPTION_UUID", "Collector", "subscription_toml"]

SUBSCRIPTION_UUID = "7d3c6a1e-58b2-4f0a-9c1d-2e4b6f8a0c13"
ROOT = Path(__file__).resolve().parents[2]
QUERY = (
    '<QueryList><Query Id="0"><Select Path="Security">*</Select><Select Path="System">*</Select>'
    '<Select Path="Application">*</Select></Query></QueryList>'
)


def subscription_toml(
    uuid: str = SUBSCRIPTION_UUID,
    name: str = "e2e-security",
    *,
    outputs: str | None = None,
    options: str = "max_time = 1\nheartbeat_interval = 30",
    extra: str = "",
) -> str:
    outputs = outputs or textwrap.dedent("""\
        [[outputs]]
        driver = "Files"
        format = "Raw"
        config = { path = "out/{client}/raw.xml" }
        """)
    return (
        textwrap.dedent(f"""\
        uuid = "{uuid}"
        name = "{name}"
        query = \"\"\"{QUERY}\"\"\"
        {extra}
        [options]
        """)
        + options
        + "\n\n"
        + outputs
    )


@dataclass
class Collector:
    directory: Path
    kdc: Kdc
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    extra_settings: str = ""  # more [server] keys
    extra_sections: str = ""  # more sections, e.g. [monitoring]
    max_content_length: int = 512000
    # None: the collector's SPN is HTTP/wec.test.local@REALM; "": no service_principal_name
    service_principal_name: str | None = None
    log_path: Path = field(default_factory=Path)
    node_name: str = "e2e-node"
    database: str = 'type = "SQLite"\npath = "wec.sqlite"'  # the [database] keys
    collector_extra: str = ""  # more [[collectors]] keys, e.g. enable_proxy_protocol

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "subscriptions").mkdir(exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.log_path = self.directory / "wecd.log"
        self.write_settings()

    @property
    def config(self) -> Path:
        return self.directory / "wec.toml"

    @property
    def url(self) -> str:
        return f"http://wec.test.local:{self.port}/wsman/SubscriptionManager/WEC"

    def write_settings(self) -> None:
        self.config.write_text(
            textwrap.dedent(f"""\
            [server]
            keytab = "{self.kdc.service_keytab}"
            node_name = "{self.node_name}"
            db_sync_interval = 0.5
            flush_heartbeats_interval = 0.5
            state_dir = "{self.directory}"
            shutdown_timeout = 20
            {self.extra_settings}

            [logging]
            verbosity = "info"
            server_logs = "{self.log_path}"
            access_logs = "{self.directory / "access.log"}"

            [database]
            {self.database.replace(chr(10), chr(10) + " " * 12)}

            [[collectors]]
            hostname = "wec.test.local"
            listen_address = "127.0.0.1"
            listen_port = {self.port}
            max_content_length = {self.max_content_length}
            {self.collector_extra.replace(chr(10), chr(10) + " " * 12)}

            [collectors.authentication]
            type = "Kerberos"
            """)
            + self._spn_line()
            + "\n"
            + self.extra_sections
        )

    def _spn_line(self) -> str:
        spn = self.service_principal_name
        if spn is None:
            spn = f"HTTP/wec.test.local@{self.kdc.realm}"
        return f'service_principal_name = "{spn}"\n' if spn else ""

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.kdc.env}
        env["NUMBA_CACHE_DIR"] = os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
        env.pop("WEC_CONFIG", None)
        return env

    def wec(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the admin CLI against this collector's settings."""
        return subprocess.run(
            [sys.executable, "-m", "wec.cli.main", "-c", str(self.config), *args],
            env=self.env(),
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
            input=input,
        )

    def add_subscription(self, text: str, filename: str = "sub.toml") -> None:
        (self.directory / "subscriptions" / filename).write_text(text)

    def load_subscriptions(self) -> None:
        self.wec("subscriptions", "load", str(self.directory / "subscriptions"), "--yes")

    def start(self, *, init: bool = True) -> None:
        if init:
            self.wec("db", "init")
            if any((self.directory / "subscriptions").iterdir()):
                self.load_subscriptions()
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wec.cli.wecd", "-c", str(self.config)],
                env=self.env(),
                cwd=self.directory,
                stdout=log,
                stderr=log,
            )
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"wecd did not start:\n{self.log_path.read_text()[-4000:]}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start(init=False)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def output_files(self, pattern: str = "out/**/*") -> list[Path]:
        return sorted(p for p in self.directory.glob(pattern) if p.is_file())

    def wait_for(self, predicate: object, timeout: float = 20.0, interval: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return True
            time.sleep(interval)
        return False
