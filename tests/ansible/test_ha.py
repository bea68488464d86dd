# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/ha.yml on localhost: the test PostgreSQL, two collector nodes on two ports and
HAProxy in front of them, then simulated sources delivering through the balancer.

The collector nodes need wec's PostgreSQL store: the test tries to open one and skips, naming
the reason, while that store is not available, so it turns itself on once the store exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.support import TARGET_PYTHON, read_unit, run_playbook, stop, unit_command, write_json
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port
from wec.sim.events import key_from_line
from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, run_machines
from wec.store import DatabaseSettings, open_store

# Converging takes minutes on a busy machine: the fixture's time counts against the first test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PG_HOST = os.environ.get("WEC_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WEC_TEST_PG_PORT", "5432"))
QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'


def _psql(sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "psql",
            "-X",
            "-At",
            "-h",
            PG_HOST,
            "-p",
            str(PG_PORT),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def postgres_store_unavailable() -> str | None:
    """Why a Postgres store cannot be used here, or None when it can."""
    if shutil.which("psql") is None or _psql("SELECT 1").returncode != 0:
        return f"no PostgreSQL answers on {PG_HOST}:{PG_PORT}"
    settings = DatabaseSettings(
        type="Postgres", host=PG_HOST, port=PG_PORT, dbname="postgres", user="postgres", ssl_mode="Disable"
    )
    try:
        store = open_store(settings)
    except NotImplementedError as err:
        return f"wec.store cannot open a Postgres store yet ({err})"
    except Exception as err:  # a store that exists but cannot connect
        return f"wec.store could not open a Postgres store: {err}"
    store.close()
    return None


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    reason = postgres_store_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"wec_ansible_{os.getpid()}"
    yield name
    _psql(f'DROP DATABASE IF EXISTS "{name}"')
    _psql(f'DROP ROLE IF EXISTS "{name}"')


def _node_vars(root: Path, n: int, port: int, db: str, kdc: Kdc) -> dict[str, object]:
    base = f"{root}/node{n}"
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": TARGET_PYTHON,
        "ansible_become": False,
        "wec_collector_config_dir": f"{base}/etc/wec",
        "wec_collector_state_dir": f"{base}/var/lib/wec",
        "wec_collector_log_dir": f"{base}/var/log/wec",
        "wec_collector_cache_dir": f"{base}/var/cache/wec",
        "wec_collector_service_name": f"wecd-node{n}",
        "wec_collector_node_name": f"node{n}",
        "wec_collector_listen_port": port,
        "wec_haproxy_backend_address": "127.0.0.1",
        "wec_collector_subscriptions": [
            {
                "name": "security",
                "uuid": "0c9b8a7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
                "query": QUERY,
                "options": {"max_time": 1, "heartbeat_interval": 30},
                "outputs": [
                    {
                        "driver": "Files",
                        "format": "Raw",
                        "config": {"path": f"{base}/var/log/wec/events/{{client}}/raw.xml"},
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def ha(
    database: str,
    target_root: Path,
    service_account: str,
    packages: tuple[Path, Path],
    kdc: Kdc,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, object]:
    work = tmp_path_factory.mktemp("ha")
    (target_root / "etc" / "krb5.conf").write_text(kdc.krb5_conf.read_text())
    (target_root / "etc" / "krb5.conf").chmod(0o644)
    for n in (1, 2):
        for d in ("etc", "var/lib", "var/log", "var/cache"):
            (target_root / f"node{n}" / d).mkdir(parents=True, mode=0o755, exist_ok=True)
        (target_root / f"node{n}").chmod(0o755)
    wheel, house = packages
    ports = [free_port(), free_port()]
    balancer_port = free_port()
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": TARGET_PYTHON,
        "ansible_become": False,
    }
    inventory = write_json(
        work / "hosts.json",
        {
            "wec_databases": {"hosts": {"db": local}},
            "wec_collectors": {
                "hosts": {f"node{n}": _node_vars(target_root, n, ports[n - 1], database, kdc) for n in (1, 2)}
            },
            "wec_balancers": {"hosts": {"balancer": local}},
        },
    )
    extra = write_json(
        work / "vars.json",
        {
            # wec_postgresql against the test cluster: no package, no config, no service.
            "wec_postgresql_install_package": False,
            "wec_postgresql_manage_config": False,
            "wec_postgresql_manage_service": False,
            "wec_postgresql_os_user": "",
            "wec_postgresql_admin_host": PG_HOST,
            "wec_postgresql_port": PG_PORT,
            "wec_postgresql_database": database,
            "wec_postgresql_user": database,
            "wec_postgresql_password": "wec-test-password",
            # Both nodes share the virtualenv (converged one after the other).
            "wec_collector_user": service_account,
            "wec_collector_group": service_account,
            # One account for both nodes of this host: one home, or each converge moves it.
            "wec_collector_user_home": f"{target_root}/node1/var/lib/wec",
            "wec_collector_install_dir": f"{target_root}/opt/wec",
            "wec_collector_systemd_dir": f"{target_root}/etc/systemd/system",
            "wec_collector_logrotate_dir": f"{target_root}/etc/logrotate.d",
            "wec_collector_install_system_packages": False,
            "wec_collector_manage_service": False,
            "wec_collector_python": TARGET_PYTHON,
            "wec_collector_package_file": str(wheel),
            "wec_collector_pip_extra_args": f"--no-index --find-links {house}",
            "wec_collector_hostname": "wec.test.local",
            "wec_collector_listen_address": "127.0.0.1",
            "wec_collector_advertized_port": balancer_port,
            "wec_collector_enable_proxy_protocol": True,
            "wec_collector_service_principal_name": f"HTTP/wec.test.local@{kdc.realm}",
            "wec_collector_keytab_src": str(kdc.service_keytab),
            "wec_collector_environment": {
                "KRB5_CONFIG": f"{target_root}/etc/krb5.conf",
                "KRB5RCACHETYPE": "none",
            },
            "wec_collector_server": {
                "db_sync_interval": 1,
                "flush_heartbeats_interval": 1,
                "shutdown_timeout": 10,
            },
            "wec_collector_database": {
                "type": "Postgres",
                "host": PG_HOST,
                "port": PG_PORT,
                "dbname": database,
                "user": database,
                "password": "wec-test-password",
                "ssl_mode": "Disable",
                "max_chunk_size": 100,
            },
            "wec_haproxy_install_package": False,
            "wec_haproxy_manage_service": False,
            "wec_haproxy_config_file": f"{target_root}/haproxy.cfg",
            "wec_haproxy_global_settings": ["maxconn 1000"],
            "wec_haproxy_bind_address": "127.0.0.1",
            "wec_haproxy_bind_port": balancer_port,
            "wec_haproxy_check_interval": "1s",
        },
    )
    for name in ("converge", "again"):
        run = run_playbook("ha.yml", inventory, extra)
        assert run.rc == 0, f"{name} failed:\n{run.output[-6000:]}"
        if name == "again":
            assert sum(r["changed"] for r in run.recap.values()) == 0, run.output[-6000:]
    return {"root": target_root, "ports": ports, "balancer": balancer_port}


def test_sources_deliver_through_haproxy_to_both_nodes(
    ha: dict[str, object], kdc: Kdc, tmp_path: Path
) -> None:
    root = ha["root"]
    ports = ha["ports"]
    balancer = ha["balancer"]
    assert isinstance(root, Path) and isinstance(ports, list) and isinstance(balancer, int)
    units = [read_unit(root / "etc" / "systemd" / "system" / f"wecd-node{n}.service") for n in (1, 2)]
    procs = [unit_command(unit, "ExecStart", tmp_path / f"node{n}.stderr") for n, unit in enumerate(units, 1)]
    haproxy = subprocess.Popen(
        ["haproxy", "-f", str(root / "haproxy.cfg"), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(haproxy)
    try:
        for port in [*ports, balancer]:
            wait_for_port(port, timeout=60)
        machines = 4
        for n in range(1, machines + 1):
            shutil.copy(kdc.add_client(f"HA{n:03d}$"), tmp_path / f"HA{n:03d}.keytab")
        template = MachineConfig(
            manager_url=f"http://wec.test.local:{balancer}/wsman/SubscriptionManager/WEC",
            computer="",
            connect_to=("127.0.0.1", balancer),
            events=20,
            batch_size=5,
            duration_s=60.0,
            max_retries=5,
            retry_backoff_s=0.2,
            retry_backoff_max_s=1.0,
            timeout_s=20.0,
            track_keys=True,
        )
        summary = run_machines(
            RunConfig(
                template=template,
                machines=machines,
                principal_format="HA{n:03d}$@WEC.TEST",
                keytab_dir=str(tmp_path),
            )
        )
        assert summary.ok, summary
        acked = set(summary.acked_keys())
        assert acked
        written = {
            key_from_line(line)
            for n in (1, 2)
            for path in (root / f"node{n}" / "var" / "log" / "wec" / "events").glob("*/raw.xml")
            for line in path.read_bytes().splitlines()
            if line.strip()
        }
        assert written == acked
    finally:
        for proc in procs:
            stop(proc)
