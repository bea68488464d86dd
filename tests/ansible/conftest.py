# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the Ansible tests: the tools, the packages the role installs, a temporary root
and a service account of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.support import TARGET_PYTHON, build_wheel, tool, wheelhouse


@pytest.fixture(scope="session")
def ansible_playbook() -> str:
    found = tool("ansible-playbook")
    if found is None:
        pytest.skip("ansible-core is not installed (pip install -r requirements/test.txt)")
    return found


@pytest.fixture(scope="session")
def converge_ready(ansible_playbook: str) -> None:
    """Converging localhost creates a user and files owned by it: root only."""
    if os.geteuid() != 0:
        pytest.skip("the converge tests create a service account: they run as root")
    if not Path(TARGET_PYTHON).exists() or shutil.which("runuser") is None:
        pytest.skip(f"{TARGET_PYTHON} and runuser (util-linux) are needed on the target")


@pytest.fixture(scope="session")
def packages(converge_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wec wheel of this checkout, a wheelhouse of its dependencies)."""
    return build_wheel(tmp_path_factory.mktemp("dist")), wheelhouse()


@pytest.fixture(scope="module")
def target_root() -> Iterator[Path]:
    """A fresh root with the usual system directories, under /tmp (not pytest's 0700 tree:
    the service account must reach its files)."""
    root = Path(tempfile.mkdtemp(prefix="wec-ansible-", dir="/tmp"))
    try:
        root.chmod(0o755)
        for d in ("etc/systemd/system", "etc/logrotate.d", "opt", "var/lib", "var/log", "var/cache"):
            (root / d).mkdir(parents=True, mode=0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def remove_account(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, check=False, timeout=30)
    subprocess.run(["groupdel", name], capture_output=True, check=False, timeout=30)


@pytest.fixture(scope="module")
def service_account() -> Iterator[str]:
    """A service account name of this test only; the role creates it, teardown removes it."""
    name = f"wect{os.getpid() % 100000}"
    remove_account(name)
    try:
        yield name
    finally:
        remove_account(name)
