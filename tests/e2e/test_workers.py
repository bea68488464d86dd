# SPDX-License-Identifier: GPL-3.0-or-later
"""``server.worker_processes``: several processes share the port (SO_REUSEPORT) and the
database; the parent supervises them and serves the metrics of all."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import output_keys, run_sim
from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _events_total(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "openwec_input_events_total"
    )


def test_two_workers_share_the_load_and_survive_a_worker_crash(
    tmp_path: Path, kdc: Kdc, keytab_dir: Path
) -> None:
    mport = free_port()
    c = Collector(
        tmp_path / "c",
        kdc,
        extra_settings="worker_processes = 2",
        extra_sections=f'[monitoring]\nlisten_address = "127.0.0.1"\nlisten_port = {mport}\n',
    )
    c.add_subscription(subscription_toml())
    try:
        c.start()
        assert c.proc is not None
        assert c.wait_for(lambda: len(_children(c.proc.pid)) == 2, 30)  # type: ignore[union-attr]
        summary = run_sim(c, keytab_dir, machines=4, events=50, batch=10)
        assert summary.ok, summary.to_dict()
        written = output_keys(c)
        assert len(written) == 200 and max(written.values()) == 1
        wait_for_port(mport)
        assert _events_total(mport) == 200  # the parent sums the workers' counters

        victim = _children(c.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        assert c.wait_for(
            lambda: len(_children(c.proc.pid)) == 2 and victim not in _children(c.proc.pid),  # type: ignore[union-attr]
            30,
        )
        # The two reads of the condition above can straddle the parent's reaping of the
        # victim, a moment before it logs the restart: wait for the line, do not race it.
        assert c.wait_for(lambda: "restarting it" in c.logs(), 10)
        time.sleep(0.5)
        assert run_sim(c, keytab_dir, machines=4, events=80, batch=10).ok
        written = output_keys(c)
        assert len(written) == 320 and max(written.values()) == 1
        workers = _children(c.proc.pid)
    finally:
        rc = c.stop()
    assert rc == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
