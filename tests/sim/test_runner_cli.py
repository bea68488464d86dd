# SPDX-License-Identifier: GPL-3.0-or-later
"""N machines in parallel, the JSON summary, and the ``wec sim`` command line."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sim.fake_collector import CollectorState, FakeCollector, FakeSubscription
from tests.support.kdc import Kdc
from wec.sim.cli import main
from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, machine_configs, percentile, run_machines

SUB_UUID = "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95"
SUMMARY_KEYS = {
    "machines",
    "events_sent",
    "events_acked",
    "batches_sent",
    "batches_acked",
    "resent",
    "errors",
    "events_per_s",
    "ack_latency_ms",
    "duration_s",
}


def _keytab_dir(kdc: Kdc, tmp_path: Path, n: int) -> Path:
    d = tmp_path / "keytabs"
    d.mkdir(exist_ok=True)
    for i in range(1, n + 1):
        kt = kdc.add_client(f"SIM{i:03d}$")
        shutil.copy(kt, d / f"SIM{i:03d}.keytab")
    return d


def _template(port: int, **kw: object) -> MachineConfig:
    return MachineConfig(
        manager_url=f"http://wec.test.local:{port}/wsman/SubscriptionManager/WEC",
        computer="",
        connect_to=("127.0.0.1", port),
        events=40,
        batch_size=15,
        duration_s=60,
        base_time=datetime(2025, 1, 1, tzinfo=UTC),
        retry_backoff_s=0.01,
        track_keys=True,
        **kw,
    )  # type: ignore[arg-type]


def test_three_machines_with_their_own_principals(kdc: Kdc, tmp_path: Path) -> None:
    kt_dir = _keytab_dir(kdc, tmp_path, 3)
    st = CollectorState([FakeSubscription(SUB_UUID, "s")], kdc.service_keytab, fail_first_attempts=1)
    with FakeCollector(st) as fc:
        run = RunConfig(
            _template(fc.port), machines=3, principal_format="SIM{n:03d}$@WEC.TEST", keytab_dir=str(kt_dir)
        )
        summary = run_machines(run)
    assert st.failures == []
    d = summary.to_dict()
    assert set(d) >= SUMMARY_KEYS
    assert (d["machines"], d["events_sent"], d["events_acked"]) == (3, 120, 120)
    assert (d["batches_sent"], d["batches_acked"], d["resent"], d["errors"]) == (9, 9, 9, {"503": 9})
    assert set(d["ack_latency_ms"]) == {"p50", "p90", "p99", "max"} and d["ack_latency_ms"]["max"] > 0
    assert summary.ok and json.loads(summary.to_json()) == d
    # Exactly once at the collector, keyed by (Computer, Channel, EventRecordID).
    keys = st.event_keys()
    assert len(keys) == 120 and len(set(keys)) == 120
    assert sorted(keys) == sorted(summary.acked_keys())  # type: ignore[type-var]
    assert {k.computer for k in keys if k} == {
        "sim001.wec.test.local",
        "sim002.wec.test.local",
        "sim003.wec.test.local",
    }
    assert {p for p, _ in st.bookmarks} == {"SIM001$@WEC.TEST", "SIM002$@WEC.TEST", "SIM003$@WEC.TEST"}


def test_machines_sharing_one_principal_do_not_adopt_each_others_bookmarks(kdc: Kdc) -> None:
    principal = "WIN10$@WEC.TEST"
    tpl = _template(1, principal=principal, keytab=str(kdc.client_keytabs[principal]))
    configs = machine_configs(RunConfig(tpl, machines=2))
    assert [c.principal for c in configs] == [principal, principal]
    assert [c.adopt_bookmarks for c in configs] == [False, False]
    assert [c.computer for c in configs] == ["sim001.wec.test.local", "sim002.wec.test.local"]
    st = CollectorState([FakeSubscription(SUB_UUID, "s")], kdc.service_keytab)
    with FakeCollector(st) as fc:
        for _ in range(2):  # the second run would skip everything if it adopted the shared bookmark
            summary = run_machines(
                RunConfig(_template(fc.port, principal=principal, keytab=tpl.keytab), machines=2)
            )
            assert summary.events_acked == 80
    assert Counter(Counter(st.event_keys()).values()) == {2: 80}


def test_keytab_formats_per_machine() -> None:
    configs = machine_configs(
        RunConfig(_template(1), machines=2, principal_format="M{n}$@R", keytab="/kt/m{n}.keytab", first=5)
    )
    assert [(c.principal, c.keytab) for c in configs] == [
        ("M5$@R", "/kt/m5.keytab"),
        ("M6$@R", "/kt/m6.keytab"),
    ]
    assert all(c.adopt_bookmarks for c in configs)


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile([], 50) == 0.0 and percentile([3.0], 99) == 3.0


def test_cli_runs_machines_and_prints_a_json_summary(
    kdc: Kdc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kt_dir = _keytab_dir(kdc, tmp_path, 2)
    st = CollectorState([FakeSubscription(SUB_UUID, "s", content_format="RenderedText")], kdc.service_keytab)
    with FakeCollector(st) as fc:
        rc = main(
            [
                "--manager-url",
                f"http://wec.test.local:{fc.port}/wsman/SubscriptionManager/WEC",
                "--connect",
                f"127.0.0.1:{fc.port}",
                "--principal",
                "SIM{n:03d}$@WEC.TEST",
                "--keytab-dir",
                str(kt_dir),
                "--machines",
                "2",
                "--events",
                "25",
                "--batch",
                "10",
                "--duration",
                "60",
                "--seed",
                "3",
                "--json",
            ]
        )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and st.failures == []
    assert (out["machines"], out["events_sent"], out["events_acked"], out["batches_acked"]) == (2, 50, 50, 6)
    assert all("<RenderingInfo Culture='en-US'>" in x for _, _, x in st.events)  # follows ContentFormat


def test_cli_plain_text_summary_and_failure_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    st = CollectorState([FakeSubscription(SUB_UUID, "s")], None, fail_first_attempts=100)
    with FakeCollector(st) as fc:
        rc = main(
            [
                "--manager-url",
                f"http://127.0.0.1:{fc.port}/wsman/SubscriptionManager/WEC",
                "--plain",
                "--events",
                "5",
                "--retries",
                "1",
                "--duration",
                "30",
            ]
        )
    captured = capsys.readouterr()
    assert rc == 1
    assert "0/5 events acked" in captured.out and "'503': 2" in captured.out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--manager-url", "http://x/", "--connect", "nohostport"],
        ["--manager-url", "http://x/", "--machines", "0"],
        ["--manager-url", "http://x/", "--duration", "0"],
    ],
)
def test_cli_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
