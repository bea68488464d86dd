# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end, several nodes: two wecd on one PostgreSQL behind a real HAProxy (PROXY v2,
HTTP health checks), simulated Windows machines talking to the balancer only.

A node is SIGKILLed mid-run, PostgreSQL is stopped and restarted mid-run: every event a
machine saw acknowledged must be in the union of the nodes' outputs (at least once), and the
nodes must carry on without a restart. PostgreSQL is the session's cluster (stopped on purpose
and started again); every component is stopped by PID.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import output_keys, patient_sim, run_sim
from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port
from tests.support.postgres import PgCluster
from wec.sim import soap
from wec.sim.events import EventKey
from wec.sim.transport import ClientSecurity, WinRMConnection, acquire_credentials

pytestmark = pytest.mark.e2e

# The configuration of docs/high-availability.md, with test addresses and short timers.
HAPROXY_CONF = """\
global
    maxconn 512
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout check 1s
    retries 3
    option redispatch
frontend wec
    bind 127.0.0.1:{front}
    default_backend wec_nodes
backend wec_nodes
    balance leastconn
    option httpchk GET /wsman/SubscriptionManager/WEC
    http-check expect status 401
    default-server check inter 300ms fall 2 rise 1 send-proxy-v2 check-send-proxy
    server node-a 127.0.0.1:{a}
    server node-b 127.0.0.1:{b}
"""


@dataclass
class Balancer:
    """What run_sim needs of a collector: the URL machines are configured with, the TCP port."""

    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://wec.test.local:{self.port}/wsman/SubscriptionManager/WEC"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Fleet:
    a: Collector
    b: Collector
    lb: Balancer
    cluster: PgCluster

    @property
    def nodes(self) -> tuple[Collector, Collector]:
        return (self.a, self.b)

    def delivered(self) -> Counter[EventKey]:
        keys: Counter[EventKey] = Counter()
        for node in self.nodes:
            keys.update(output_keys(node))
        return keys

    def stats(self, node: Collector) -> list[dict[str, object]]:
        result = node.wec("stats", "--format", "json")
        data: list[dict[str, object]] = json.loads(result.stdout)
        return data


@pytest.fixture
def ha_cluster(pg_cluster: PgCluster) -> PgCluster:
    """The session's cluster: the outage test stops it, the fleet fixture starts it again."""
    return pg_cluster


@pytest.fixture
def fleet(tmp_path: Path, kdc: Kdc, ha_cluster: PgCluster) -> Iterator[Fleet]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    ha_cluster.start()
    dbname = ha_cluster.create_database("ha")
    front = free_port()
    database = textwrap.dedent(f"""\
        type = "Postgres"
        host = "127.0.0.1"
        port = {ha_cluster.port}
        dbname = "{dbname}"
        user = "postgres"
        password = "unused with trust"
        ssl_mode = "Disable"
        max_chunk_size = 50""")
    proxied = f"enable_proxy_protocol = true\nadvertized_port = {front}"
    a = Collector(tmp_path / "a", kdc, node_name="node-a", database=database, collector_extra=proxied)
    b = Collector(tmp_path / "b", kdc, node_name="node-b", database=database, collector_extra=proxied)
    a.add_subscription(subscription_toml())
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(HAPROXY_CONF.format(front=front, a=a.port, b=b.port))
    check = subprocess.run([haproxy, "-c", "-f", str(conf)], capture_output=True, timeout=30)
    assert check.returncode == 0, check.stderr.decode()
    lb: Balancer | None = None
    try:
        a.start()  # wec db init + subscriptions load, through node A's settings
        b.start(init=False)
        with (tmp_path / "haproxy.log").open("wb") as log:
            lb = Balancer(front, subprocess.Popen([haproxy, "-f", str(conf), "-db"], stdout=log, stderr=log))
        wait_for_port(front, timeout=30)
        # Both nodes must have passed a health check before machines connect: on a loaded
        # machine a slow first check leaves a node down, and keep-alive connections then stay
        # on the other one for the whole test.
        deadline = time.monotonic() + 30
        while not all(_checked(node) >= 2 for node in (a, b)) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield Fleet(a, b, lb, ha_cluster)
    finally:
        if lb is not None:
            lb.stop()
        a.stop()
        b.stop()
        ha_cluster.start()
        ha_cluster.drop_database(dbname)


def _checked(node: Collector) -> int:
    """Health checks ``node`` answered (its access log)."""
    log = node.directory / "access.log"
    return log.read_text().count("/wsman/SubscriptionManager/WEC") if log.exists() else 0


def _served(node: Collector) -> int:
    """Events requests answered by ``node`` (its access log)."""
    log = node.directory / "access.log"
    return log.read_text().count("/wsman/subscriptions/") if log.exists() else 0


def test_a_node_killed_mid_run_loses_no_event(fleet: Fleet, keytab_dir: Path) -> None:
    sim = patient_sim(
        fleet.lb,  # type: ignore[arg-type]
        keytab_dir,
        machines=4,
        events=150,
        batch=10,
        batch_interval_s=0.02,
        max_retries=60,
        duration_s=90.0,
    )
    # Both nodes take traffic (leastconn spreads the machines' connections) ...
    assert fleet.a.wait_for(lambda: _served(fleet.a) > 0 and _served(fleet.b) > 0, 30)
    assert fleet.a.wait_for(lambda: len(fleet.delivered()) >= 100, 30)
    fleet.a.stop(signal.SIGKILL)  # ... then one dies without a word
    summary = sim.result()
    assert summary.ok, summary.to_dict()
    acked = set(summary.acked_keys())
    delivered = fleet.delivered()
    assert acked <= set(delivered), f"{len(acked - set(delivered))} acknowledged events lost"
    assert len(delivered) == 600
    assert _served(fleet.b) > 0 and fleet.b.proc is not None and fleet.b.proc.poll() is None
    # The fleet's state is in the shared database: either node's CLI sees every machine.
    time.sleep(1.0)  # node B flushes heartbeats every 0.5 s
    for node in fleet.nodes:
        (stats,) = fleet.stats(node)
        assert stats["total"] == 4, stats


def test_database_restart_mid_run_gives_503_then_everything_arrives(fleet: Fleet, keytab_dir: Path) -> None:
    sim = patient_sim(
        fleet.lb,  # type: ignore[arg-type]
        keytab_dir,
        machines=3,
        events=120,
        batch=10,
        batch_interval_s=0.05,
        max_retries=80,
        retry_backoff_max_s=0.3,
        duration_s=90.0,
    )
    assert fleet.a.wait_for(lambda: len(fleet.delivered()) >= 40, 30)
    fleet.cluster.stop()

    def saw_503() -> bool:
        return any(
            (n.directory / "access.log").exists() and '" 503 ' in (n.directory / "access.log").read_text()
            for n in fleet.nodes
        )

    assert fleet.a.wait_for(saw_503, 20)
    time.sleep(1.0)
    fleet.cluster.start()
    summary = sim.result()
    assert summary.ok, summary.to_dict()
    assert summary.errors.get("503", 0) > 0
    acked = set(summary.acked_keys())
    delivered = fleet.delivered()
    assert acked <= set(delivered)
    assert len(delivered) == 360
    for node in fleet.nodes:
        assert node.proc is not None and node.proc.poll() is None, node.logs()[-2000:]
        # One line per outage and node, not one per refused request.
        assert node.logs().count("unavailable: ") <= 1, node.logs()[-3000:]
        # The outage is a 503 (resend later), never a 500 (a bug) for any request.
        assert '" 500 ' not in (node.directory / "access.log").read_text()
    assert sum(n.logs().count("available again after") for n in fleet.nodes) >= 1


def test_a_subscription_edited_through_node_a_is_offered_by_node_b(fleet: Fleet, keytab_dir: Path) -> None:
    fleet.a.add_subscription(
        subscription_toml(uuid="0b9e2f4c-1d3a-4e5b-8c7d-6a5f4e3d2c1b", name="ha-second"), "second.toml"
    )
    fleet.a.load_subscriptions()  # written to the shared database by node A's CLI
    assert fleet.b.wait_for(lambda: "subscriptions loaded: 2" in fleet.b.logs(), 15)
    fleet.a.stop()  # from now on only node B answers behind the balancer
    time.sleep(1.0)  # two failed health checks take node A out
    summary = run_sim(fleet.lb, keytab_dir, machines=1, events=10, batch=10)  # type: ignore[arg-type]
    assert summary.ok, summary.to_dict()
    assert summary.subscriptions == 2
    assert len(output_keys(fleet.b)) == 10
    # What node B offers sends the sources back to the balancer, not to node B itself.
    offered = _enumerate_through(fleet.lb, fleet.b.kdc)
    assert len(offered) == 2
    assert all(s.notify_to.startswith(f"http://wec.test.local:{fleet.lb.port}/") for s in offered)


def _enumerate_through(lb: Balancer, kdc: Kdc) -> tuple[soap.OfferedSubscription, ...]:
    principal = "WIN10$@WEC.TEST"
    creds = acquire_credentials(principal, str(kdc.client_keytabs[principal]))
    conn = WinRMConnection(
        lb.url, ClientSecurity(mode="kerberos", credentials=creds), ("127.0.0.1", lb.port), 20
    )
    try:
        xml = soap.build_enumerate(
            lb.url, "win10.wec.test", soap.new_uuid(), soap.new_uuid(), soap.new_uuid()
        )
        resp = conn.post(soap.encode_utf16(xml))
        assert resp.status == 200
        return soap.parse_enumerate_response(resp.body).subscriptions
    finally:
        conn.close()
