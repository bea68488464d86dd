# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/single-node.yml on localhost: check mode, converge, idempotence, then a working
collector started from the deployed files, fed by simulated Windows machines."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ansible.support import TARGET_PYTHON, Run, read_unit, run_playbook, stop, unit_command, write_json
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port
from wec.sim.events import key_from_line
from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, run_machines

# Converging takes minutes on a busy machine: the fixture's time counts against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SUBSCRIPTION_UUID = "3f2a9c4e-7b1d-4e8a-b6c5-0d9e8f7a6b51"
FILE_SUBSCRIPTION_UUID = "b41c7d2e-95a3-4f60-8e1b-7c2d3e4f5a69"
QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
MACHINES = 2
EVENTS = 30


@dataclass
class Node:
    root: Path
    user: str
    port: int
    vars: dict[str, object]
    runs: dict[str, Run]

    def path(self, name: str) -> Path:
        value = self.vars[name]
        assert isinstance(value, str)
        return Path(value)


def _vars(
    root: Path, user: str, port: int, wheel: Path, house: Path, kdc: Kdc, extra_sub: Path
) -> dict[str, object]:
    return {
        "wec_collector_user": user,
        "wec_collector_group": user,
        "wec_collector_install_dir": f"{root}/opt/wec",
        "wec_collector_config_dir": f"{root}/etc/wec",
        "wec_collector_state_dir": f"{root}/var/lib/wec",
        "wec_collector_log_dir": f"{root}/var/log/wec",
        "wec_collector_cache_dir": f"{root}/var/cache/wec",
        "wec_collector_systemd_dir": f"{root}/etc/systemd/system",
        "wec_collector_logrotate_dir": f"{root}/etc/logrotate.d",
        # No systemd and no apt changes on the test machine: the packages are there already.
        "wec_collector_install_system_packages": False,
        "wec_collector_manage_service": False,
        "wec_collector_python": TARGET_PYTHON,
        "wec_collector_package_file": str(wheel),
        "wec_collector_pip_extra_args": f"--no-index --find-links {house}",
        "wec_collector_node_name": "ansible-node",
        "wec_collector_hostname": "wec.test.local",
        "wec_collector_listen_address": "127.0.0.1",
        "wec_collector_listen_port": port,
        "wec_collector_service_principal_name": f"HTTP/wec.test.local@{kdc.realm}",
        "wec_collector_keytab_src": str(kdc.service_keytab),
        "wec_collector_environment": {"KRB5_CONFIG": f"{root}/etc/krb5.conf", "KRB5RCACHETYPE": "none"},
        "wec_collector_server": {
            "db_sync_interval": 1,
            "flush_heartbeats_interval": 1,
            "shutdown_timeout": 10,
        },
        "wec_collector_subscriptions": [
            {
                "name": "security",
                "uuid": SUBSCRIPTION_UUID,
                "query": QUERY,
                "options": {"max_time": 1, "heartbeat_interval": 30},
                "outputs": [
                    {
                        "driver": "Files",
                        "format": "Raw",
                        "config": {"path": f"{root}/var/log/wec/events/{{client}}/raw.xml"},
                    }
                ],
            }
        ],
        "wec_collector_subscription_files": [str(extra_sub)],
    }


@pytest.fixture(scope="module")
def node(
    target_root: Path,
    service_account: str,
    packages: tuple[Path, Path],
    kdc: Kdc,
    tmp_path_factory: pytest.TempPathFactory,
) -> Node:
    """check mode, converge, converge again (recorded in ``runs``)."""
    work = tmp_path_factory.mktemp("single-node")
    # The test KDC's krb5.conf, where the service account can read it (as /etc/krb5.conf is).
    (target_root / "etc" / "krb5.conf").write_text(kdc.krb5_conf.read_text())
    (target_root / "etc" / "krb5.conf").chmod(0o644)
    extra_sub = work / "system.toml"
    extra_sub.write_text(
        textwrap.dedent(f"""\
        uuid = "{FILE_SUBSCRIPTION_UUID}"
        name = "system"
        query = '<QueryList><Query Id="0"><Select Path="System">*</Select></Query></QueryList>'
        [options]
        enabled = false
        [[outputs]]
        driver = "Files"
        format = "Json"
        config = {{ path = "{target_root}/var/log/wec/events/{{client}}/system.json" }}
        """)
    )
    inventory = write_json(
        work / "hosts.json",
        {
            "wec_collectors": {
                "hosts": {
                    "localhost": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": TARGET_PYTHON,
                        # Already root; there is no sudo to become through.
                        "ansible_become": False,
                    }
                }
            }
        },
    )
    wheel, house = packages
    variables = _vars(target_root, service_account, free_port(), wheel, house, kdc, extra_sub)
    extra = write_json(work / "vars.json", variables)
    runs = {}
    for name, args in (("check", ("--check",)), ("converge", ()), ("again", ())):
        runs[name] = run = run_playbook("single-node.yml", inventory, extra, *args)
        assert run.rc == 0, f"{name} failed:\n{run.output[-6000:]}"
    port = variables["wec_collector_listen_port"]
    assert isinstance(port, int)
    return Node(target_root, service_account, port, variables, runs)


def test_check_mode_on_a_fresh_machine_reports_changes_without_error(node: Node) -> None:
    check = node.runs["check"]
    assert check.recap["localhost"]["failed"] == 0
    assert check.changed() > 0


def test_second_converge_changes_nothing(node: Node) -> None:
    assert node.runs["converge"].changed() > 0
    again = node.runs["again"]
    assert again.changed() == 0, again.output[-6000:]


def _mode_owner(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    import grp
    import pwd

    return oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


def test_secrets_and_settings_belong_to_the_service_account_only(node: Node) -> None:
    etc = node.path("wec_collector_config_dir")
    assert _mode_owner(etc / "wec.keytab") == ("0o600", node.user, node.user)
    assert _mode_owner(etc / "wec.toml") == ("0o600", node.user, node.user)
    assert _mode_owner(etc) == ("0o750", "root", node.user)
    assert _mode_owner(etc / "subscriptions" / "security.toml") == ("0o640", "root", node.user)
    assert _mode_owner(etc / "subscriptions" / "system.toml") == ("0o640", "root", node.user)
    for d in ("wec_collector_state_dir", "wec_collector_log_dir", "wec_collector_cache_dir"):
        assert _mode_owner(node.path(d)) == ("0o750", node.user, node.user)
    # The code is root's: the service account cannot change what it runs.
    assert _mode_owner(node.path("wec_collector_install_dir") / "bin" / "wecd")[1] == "root"
    assert (node.path("wec_collector_state_dir") / "wec.sqlite").stat().st_uid == (
        etc / "wec.toml"
    ).stat().st_uid


def _unit(node: Node) -> dict[str, list[str]]:
    return read_unit(node.root / "etc" / "systemd" / "system" / "wecd.service")


def test_unit_is_hardened(node: Node) -> None:
    unit = _unit(node)
    assert unit["User"] == [node.user]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    writable = unit["ReadWritePaths"][0].split()
    for d in ("wec_collector_state_dir", "wec_collector_log_dir", "wec_collector_cache_dir"):
        assert str(node.path(d)) in writable
    assert f"{node.root}/var/log/wec/events" in writable
    assert unit["Restart"] == ["on-failure"]
    assert unit["LimitNOFILE"] == ["65536"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    if shutil.which("systemd-analyze"):  # works without a running systemd
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(node.root / "etc" / "systemd" / "system" / "wecd.service")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verify.returncode == 0, verify.stderr


def test_logrotate_configuration_is_valid_and_signals_wecd(node: Node, tmp_path: Path) -> None:
    conf = node.root / "etc" / "logrotate.d" / "wecd"
    text = conf.read_text()
    assert "--signal=HUP" in text and f"{node.root}/var/log/wec/*.log" in text
    if shutil.which("logrotate"):
        debug = subprocess.run(
            ["logrotate", "--debug", "--state", str(tmp_path / "state"), str(conf)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert debug.returncode == 0, debug.stdout + debug.stderr
        assert "error" not in (debug.stdout + debug.stderr).lower()


def test_both_subscriptions_are_in_the_database(node: Node) -> None:
    wec = node.path("wec_collector_install_dir") / "bin" / "wec"
    out = subprocess.run(
        [
            "runuser",
            "-u",
            node.user,
            "--",
            str(wec),
            "-c",
            str(node.path("wec_collector_config_dir") / "wec.toml"),
            "subscriptions",
            "list",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    names = {s["name"]: s for s in json.loads(out)}
    assert set(names) == {"security", "system"}


@pytest.fixture
def running_wecd(node: Node, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """wecd started from the deployed unit: its user, directory, environment and commands."""
    unit = _unit(node)
    stderr = tmp_path / "wecd.stderr"
    check = unit_command(unit, "ExecStartPre", stderr)
    assert check.wait(timeout=120) == 0, stderr.read_text()
    proc = unit_command(unit, "ExecStart", stderr)
    try:
        try:
            wait_for_port(node.port, timeout=60)
        except TimeoutError:
            pytest.fail(f"the deployed wecd did not start: {stderr.read_text()[-4000:]}")
        yield proc
    finally:
        stop(proc)


def test_deployed_collector_delivers_simulated_events(
    node: Node, running_wecd: subprocess.Popen[bytes], kdc: Kdc, tmp_path: Path
) -> None:
    for n in range(1, MACHINES + 1):
        shutil.copy(kdc.add_client(f"ANS{n:03d}$"), tmp_path / f"ANS{n:03d}.keytab")
    template = MachineConfig(
        manager_url=f"http://wec.test.local:{node.port}/wsman/SubscriptionManager/WEC",
        computer="",
        connect_to=("127.0.0.1", node.port),
        events=EVENTS,
        batch_size=10,
        duration_s=60.0,
        max_retries=3,
        retry_backoff_s=0.2,
        retry_backoff_max_s=1.0,
        timeout_s=20.0,
        track_keys=True,
    )
    summary = run_machines(
        RunConfig(
            template=template,
            machines=MACHINES,
            principal_format="ANS{n:03d}$@WEC.TEST",
            keytab_dir=str(tmp_path),
        )
    )
    assert summary.ok, summary
    # The subscription selects the Security channel only: part of each machine's log.
    acked = summary.acked_keys()
    assert 0 < len(set(acked)) == summary.events_acked <= MACHINES * EVENTS
    events = node.path("wec_collector_log_dir") / "events"
    written = sorted(events.glob("*/raw.xml"))
    assert len(written) == MACHINES
    keys = {key_from_line(ln) for p in written for ln in p.read_bytes().splitlines() if ln.strip()}
    assert keys == set(acked)
    assert written[0].stat().st_uid == (node.path("wec_collector_config_dir") / "wec.toml").stat().st_uid
    log = node.path("wec_collector_log_dir") / "access.log"
    assert log.exists() and " 200 " in log.read_text()
    assert running_wecd.poll() is None
