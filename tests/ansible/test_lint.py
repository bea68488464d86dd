# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ansible content passes ansible-lint's production profile and a syntax check."""

from __future__ import annotations

import subprocess

import pytest

from tests.ansible.support import ANSIBLE_DIR, BIN, ansible_env, tool

pytestmark = pytest.mark.slow

PLAYBOOKS = ["playbooks/single-node.yml", "playbooks/ha.yml"]


@pytest.mark.parametrize("inventory", ["inventory", "inventory-ha"])
def test_playbooks_syntax(ansible_playbook: str, inventory: str) -> None:
    proc = subprocess.run(
        [ansible_playbook, "--syntax-check", "-i", inventory, *PLAYBOOKS],
        cwd=ANSIBLE_DIR,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ansible_lint_production_profile(ansible_playbook: str) -> None:
    lint = tool("ansible-lint")
    if lint is None:
        pytest.skip("ansible-lint is not installed (pip install -r requirements/test.txt)")
    env = ansible_env()
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    proc = subprocess.run(
        [lint, "--offline", "--profile", "production", "--strict", "--nocolor"],
        cwd=ANSIBLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
