# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the project's Ansible playbooks against localhost, into a temporary root.

The role's install paths are variables: a test converges into a fresh directory under /tmp
(world-traversable, so that the test's service account can reach it), with a service account
of its own, and removes both afterwards. The machine is left as it was found.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
BIN = Path(sys.executable).parent
# The role builds its virtualenv with the target's system Python, as on a real node.
TARGET_PYTHON = "/usr/bin/python3"
CACHE = Path(os.environ.get("WEC_TEST_CACHE", Path.home() / ".cache" / "wec-test"))

_RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)


def tool(name: str) -> str | None:
    """An Ansible command of the test environment (the virtualenv next to this Python)."""
    candidate = BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


@dataclass
class Run:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]

    def changed(self, host: str = "localhost") -> int:
        return self.recap[host]["changed"]


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PIPELINING": "1",
            # Ansible's temporary files stay out of the home directory.
            "ANSIBLE_LOCAL_TEMP": str(CACHE / "ansible-tmp"),
            "ANSIBLE_REMOTE_TEMP": str(CACHE / "ansible-tmp"),
            "ANSIBLE_HOME": str(CACHE / "ansible-home"),
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }
    )
    # The settings of the test session must not leak into the deployed node's commands, and
    # the checkout's ansible/ directory on PYTHONPATH must not shadow the ansible package.
    for key in [k for k in env if k.startswith("WEC_") or k == "PYTHONPATH"]:
        del env[key]
    return env


def run_playbook(playbook: str, inventory: Path, extra_vars: Path, *args: str, timeout: float = 300) -> Run:
    cmd = [
        tool("ansible-playbook") or "ansible-playbook",
        "-i",
        str(inventory),
        "-e",
        f"@{extra_vars}",
        str(ANSIBLE_DIR / "playbooks" / playbook),
        *args,
    ]
    proc = subprocess.run(
        cmd, env=ansible_env(), cwd=ANSIBLE_DIR, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = proc.stdout + proc.stderr
    recap: dict[str, dict[str, int]] = {}
    for line in proc.stdout.splitlines():
        m = _RECAP.match(line)
        if m:
            recap[m["host"]] = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
    return Run(proc.returncode, output, recap)


def write_json(path: Path, data: Any) -> Path:
    """Inventories and extra-vars files as JSON (a YAML subset Ansible reads as such)."""
    path.write_text(json.dumps(data, indent=2))
    return path


def build_wheel(dest: Path) -> Path:
    """The wec wheel of this checkout (pip wheel --no-deps), as a user would build it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dest),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = sorted(dest.glob("wec-*.whl"))
    assert wheels, f"no wheel in {dest}"
    return wheels[-1]


def wheelhouse() -> Path:
    """Wheels of wec's dependencies for the target Python, built once per machine.

    The role installs with ``--no-index --find-links`` from it, so a converge neither reaches
    a package index nor rebuilds gssapi from source.
    """
    version = subprocess.run(
        [TARGET_PYTHON, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    key = hashlib.sha256((ROOT / "requirements" / "runtime.txt").read_bytes() + version.encode()).hexdigest()[
        :16
    ]
    house = CACHE / f"wheelhouse-{key}"
    if (house / ".complete").exists():
        return house
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"wheelhouse-{key}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    builder = work / "venv"
    subprocess.run([TARGET_PYTHON, "-m", "venv", str(builder)], check=True, capture_output=True, timeout=120)
    subprocess.run(
        [
            str(builder / "bin" / "pip"),
            "wheel",
            "-q",
            "-w",
            str(work / "wheels"),
            "-r",
            str(ROOT / "requirements" / "runtime.txt"),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (work / "wheels" / ".complete").write_text(version)
    shutil.rmtree(house, ignore_errors=True)
    (work / "wheels").rename(house)
    shutil.rmtree(work, ignore_errors=True)
    return house


def read_unit(path: Path) -> dict[str, list[str]]:
    """The ``Key=value`` lines of a systemd unit file (repeated keys kept in order)."""
    unit: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            unit.setdefault(key, []).append(value)
    return unit


def unit_command(unit: dict[str, list[str]], key: str, stderr: Path) -> subprocess.Popen[bytes]:
    """Start the unit's ``ExecStart`` (or ``ExecStartPre``) as systemd would without systemd:
    its user and group (no supplementary groups), working directory and environment only."""
    env = {"PATH": "/usr/bin:/bin"}
    for assignment in unit.get("Environment", []):
        name, value = assignment.split("=", 1)
        env[name] = value
    with stderr.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            shlex.split(unit[key][0]),
            env=env,
            user=unit["User"][0],
            group=unit["Group"][0],
            extra_groups=[],
            cwd=unit["WorkingDirectory"][0],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
