# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: simulated Windows machines → real wecd (Kerberos, SLDC) → output files.

These tests count events: every acknowledged event must be in the outputs, exactly once when
nothing failed, at least once when something did. They break outputs and kill the collector
on purpose.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import output_keys, patient_sim, run_sim, saw_status
from tests.e2e.harness import Collector, subscription_toml
from tests.e2e.test_hostile import open_session, post_heartbeat

pytestmark = pytest.mark.e2e


def test_every_event_arrives_exactly_once(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    summary = run_sim(collector, keytab_dir, machines=3, events=120, batch=25)
    assert summary.ok, summary.to_dict()
    assert summary.events_acked == 360
    acked = summary.acked_keys()
    assert len(set(acked)) == 360
    written = output_keys(collector)
    assert set(written) == set(acked)
    assert max(written.values()) == 1, "an event was written twice although nothing failed"
    # one file per client principal, named after it with the '$' dropped
    names = sorted(p.parent.name for p in collector.output_files())
    assert names == ["SIM001@WEC.TEST", "SIM002@WEC.TEST", "SIM003@WEC.TEST"]


def test_json_output_carries_the_batch_metadata(collector: Collector, keytab_dir: Path) -> None:
    collector.add_subscription(
        subscription_toml(
            outputs="""
[[outputs]]
driver = "Files"
format = "Json"
config = { path = "out/{ip}/{client}.jsonl" }
"""
        )
    )
    collector.start()
    summary = run_sim(collector, keytab_dir, machines=1, events=10, batch=10)
    assert summary.ok
    lines = collector.output_files()[0].read_text().splitlines()
    assert len(lines) == 10
    doc = json.loads(lines[0])
    meta = doc["OpenWEC"]
    assert meta["IpAddress"] == "127.0.0.1"
    assert meta["Client"] == meta["Principal"] == "SIM001$@WEC.TEST"
    assert meta["Node"] == "e2e-node"
    assert meta["Subscription"]["Name"] == "e2e-security"
    assert meta["Subscription"]["Uuid"] == "7D3C6A1E-58B2-4F0A-9C1D-2E4B6F8A0C13"
    assert doc["System"]["Computer"].startswith("sim001")


def test_restart_returns_stored_bookmarks_and_nothing_is_sent_twice(
    collector: Collector, keytab_dir: Path
) -> None:
    collector.start()
    first = run_sim(collector, keytab_dir, machines=2, events=60, batch=20)
    assert first.ok
    collector.restart()
    # The same machines' logs have grown to 100 events; the Subscribe they receive after the
    # restart carries their stored bookmark, so only the 40 new events per machine are sent.
    second = run_sim(collector, keytab_dir, machines=2, events=100, batch=20)
    assert second.ok, second.to_dict()
    assert second.events_sent == 80
    written = output_keys(collector)
    assert len(written) == 200
    assert max(written.values()) == 1


def test_output_failure_gives_503_and_resends_deliver_everything(
    collector: Collector, keytab_dir: Path
) -> None:
    collector.start()
    # Make the Files output fail: a regular file where its directory must be (ENOTDIR).
    blocker = collector.directory / "out"
    blocker.write_text("not a directory")
    sim = patient_sim(collector, keytab_dir, machines=1, events=40, batch=10)
    assert saw_status(collector, 503)
    assert "refused" in collector.logs()
    blocker.unlink()  # the output recovers; the source's resends must now get through
    summary = sim.result()
    assert summary.ok, summary.to_dict()
    assert summary.resent > 0
    assert summary.errors.get("503", 0) > 0
    written = output_keys(collector)
    assert len(written) == 40 and max(written.values()) == 1


def test_one_failing_output_of_two_blocks_the_ack_and_loses_nothing(
    collector: Collector, keytab_dir: Path
) -> None:
    collector.add_subscription(
        subscription_toml(
            outputs="""
[[outputs]]
driver = "Files"
format = "Raw"
config = { path = "good/{client}.xml" }

[[outputs]]
driver = "Files"
format = "Json"
config = { path = "bad/{client}.jsonl" }
"""
        )
    )
    collector.start()
    (collector.directory / "bad").write_text("blocks the second output")
    sim = patient_sim(collector, keytab_dir, machines=1, events=30, batch=10)
    assert saw_status(collector, 503)
    (collector.directory / "bad").unlink()
    summary = sim.result()
    assert summary.ok
    good = output_keys(collector, "good/**/*")
    bad = output_keys(collector, "bad/**/*")
    # The healthy output saw the refused batch more than once (at-least-once), the other once.
    assert set(good) == set(bad) and len(bad) == 30
    assert max(bad.values()) == 1
    assert max(good.values()) >= 2


def test_collector_killed_mid_stream_loses_nothing(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    sim = patient_sim(
        collector,
        keytab_dir,
        machines=2,
        events=300,
        batch=10,
        batch_interval_s=0.02,
        max_retries=60,
        duration_s=90.0,
    )
    assert collector.wait_for(lambda: len(output_keys(collector)) >= 40, 30)
    collector.stop(signal.SIGKILL)
    collector.start(init=False)
    summary = sim.result()
    assert summary.ok, summary.to_dict()
    written = output_keys(collector)
    assert set(written) == set(summary.acked_keys())
    assert len(written) == 600


def test_sigterm_exits_cleanly_and_flushes_heartbeats(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    assert run_sim(collector, keytab_dir, machines=2, events=20, batch=10).ok
    assert collector.stop() == 0
    db = sqlite3.connect(collector.directory / "wec.sqlite")
    try:
        rows = db.execute("select count(*) from heartbeats where last_event_seen is not null").fetchone()[0]
    finally:
        db.close()
    assert rows == 2


def test_disabled_subscription_endpoint_answers_404(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    assert run_sim(collector, keytab_dir, machines=1, events=10, batch=10).ok
    # Disable it by loading the same file with enabled = false.
    collector.add_subscription(subscription_toml(options="enabled = false\nmax_time = 1"))
    collector.load_subscriptions()

    def heartbeat_status() -> int:
        conn = open_session(collector)
        try:
            return post_heartbeat(conn)
        finally:
            conn.close()

    assert collector.wait_for(lambda: heartbeat_status() == 404, 15)


def test_a_second_subscription_created_while_running_is_offered(
    collector: Collector, keytab_dir: Path
) -> None:
    collector.start()
    collector.add_subscription(
        subscription_toml(uuid="0b9e2f4c-1d3a-4e5b-8c7d-6a5f4e3d2c1b", name="e2e-second"), "second.toml"
    )
    collector.load_subscriptions()
    assert collector.wait_for(lambda: "subscriptions loaded: 2" in collector.logs(), 15)
    summary = run_sim(collector, keytab_dir, machines=1, events=10, batch=10)
    assert summary.ok
    assert summary.subscriptions == 2


def test_sighup_reopens_output_files_after_logrotate(collector: Collector, keytab_dir: Path) -> None:
    collector.start()
    assert run_sim(collector, keytab_dir, machines=1, events=20, batch=10).ok
    [path] = collector.output_files()
    rotated = path.with_suffix(".1")
    path.rename(rotated)  # what logrotate does
    assert collector.proc is not None
    collector.proc.send_signal(signal.SIGHUP)
    assert collector.wait_for(lambda: "SIGHUP" in collector.logs(), 10)
    assert run_sim(collector, keytab_dir, machines=1, events=40, batch=10).ok
    assert path.exists(), "the output file was not recreated after SIGHUP"
    assert len(rotated.read_text().splitlines()) == 20
    assert len(path.read_text().splitlines()) == 20  # the 20 new events, resumed from the bookmark
