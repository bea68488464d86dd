# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec sim`` TLS options: per-machine client certificates, and the argument checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from wec.sim.cli import main
from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, machine_configs


def test_each_machine_gets_its_certificate_from_the_client_dir(tmp_path: Path) -> None:
    (tmp_path / "sim002.corp.pem").write_text("cert and key")
    template = MachineConfig(manager_url="https://wec.corp:5986/wsman/", computer="", tls_ca="/ca.pem")
    run = RunConfig(
        template=template, machines=2, computer_format="sim{n:03d}.corp", tls_client_dir=str(tmp_path)
    )
    first, second = machine_configs(run)
    assert (first.auth, first.tls_cert, first.tls_key) == (
        "tls",
        str(tmp_path / "sim001.corp.crt"),
        str(tmp_path / "sim001.corp.key"),
    )
    assert (second.tls_cert, second.tls_key) == (str(tmp_path / "sim002.corp.pem"),) * 2
    assert first.adopt_bookmarks and second.adopt_bookmarks  # distinct identities


@pytest.mark.parametrize(
    "args",
    [
        ["--tls-client-dir", "/tmp"],  # no --tls-ca
        ["--tls-ca", "/ca.pem", "--tls-client-dir", "/tmp", "--plain"],
        ["--tls-ca", "/ca.pem", "--tls-cert", "/c.pem"],  # no --tls-key
    ],
)
def test_inconsistent_tls_arguments_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--manager-url", "https://wec.corp:5986/wsman/", *args]) == 2
    assert "wec sim:" in capsys.readouterr().err
