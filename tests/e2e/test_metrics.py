# SPDX-License-Identifier: GPL-3.0-or-later
"""The Prometheus endpoint of a running wecd, with OpenWEC's metric names."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import run_sim
from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc
from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.e2e

UUID = "7D3C6A1E-58B2-4F0A-9C1D-2E4B6F8A0C13"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return resp.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


def test_metrics_count_events_messages_failures_and_machines(
    tmp_path: Path, kdc: Kdc, keytab_dir: Path
) -> None:
    mport = free_port()
    c = Collector(
        tmp_path / "c",
        kdc,
        extra_sections=f"""
[monitoring]
listen_address = "127.0.0.1"
listen_port = {mport}
machines_refresh_interval = 0.5
""",
    )
    c.add_subscription(subscription_toml())
    try:
        c.start()
        wait_for_port(mport)
        assert run_sim(c, keytab_dir, machines=2, events=30, batch=10).ok
        text = scrape(mport)
        sub = {"subscription_uuid": UUID, "subscription_name": "e2e-security"}
        assert value(text, "openwec_input_events_total", **sub) == 60
        assert value(text, "openwec_input_messages_total", action="events") == 6
        assert value(text, "openwec_input_messages_total", action="enumerate") == 2
        assert value(text, "openwec_input_event_bytes_total", **sub) > 60 * 500
        assert "openwec_http_request_duration_seconds_bucket" in text
        # Break the output for a new machine (whose file is not open yet): one refused batch is
        # one driver failure, labelled with the driver.
        (c.directory / "out" / "SIM003@WEC.TEST").write_text("blocks the Files output")
        summary = run_sim(c, keytab_dir, machines=1, first=3, events=10, batch=10, max_retries=0)
        assert not summary.ok
        text = scrape(mport)
        assert value(text, "openwec_output_driver_failures_total", driver="Files", **sub) >= 1
        assert value(text, "openwec_http_requests_total", code="503", uri=f"/wsman/subscriptions/{UUID}") >= 1
        assert c.wait_for(lambda: value(scrape(mport), "openwec_machines", state="Active", **sub) == 2, 10)
    finally:
        c.stop()
