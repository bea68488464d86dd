# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: wecd → Relp output → rsyslog ``imrelp``, rsyslog stopped mid-stream under load
and started again; every acknowledged event is in rsyslog's output.

Unlike the Tcp test (tests/e2e/test_receivers.py), wecd is *not* paused around the stop:
RELP answers every message, so a batch whose messages rsyslog had not answered when it went
is refused (503) and resent by the source, instead of being lost in a socket buffer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Collector, subscription_toml
from tests.e2e.test_receivers import (
    EVENTS,
    MACHINES,
    assert_everything_received,
    json_output,
    keys_of,
    run_with_outage,
)
from tests.support.relp_receiver import start_rsyslog_relp
from wec.sim.events import key_from_line

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("run", [1, 2])
def test_rsyslog_imrelp_stopped_under_load_loses_nothing(
    collector: Collector, keytab_dir: Path, tmp_path: Path, run: int
) -> None:
    rsyslog = start_rsyslog_relp(tmp_path / "rsyslog")
    try:
        collector.add_subscription(
            subscription_toml(
                outputs=json_output(
                    "Relp",
                    f'host = "127.0.0.1", port = {rsyslog.port}, timeout = 3, '
                    'syslog = { rfc = "5424", facility = "local4" }',
                )
            )
        )
        summary = run_with_outage(
            collector,
            keytab_dir,
            arrived=lambda: len(rsyslog.messages()),
            stop=rsyslog.stop,
            start=rsyslog.start,
            output_label="#0 Relp/Json 127.0.0.1",
        )
        messages = rsyslog.wait_for(MACHINES * EVENTS, timeout=15)
    finally:
        rsyslog.stop()
    received = keys_of([m["msg"] for m in messages])
    assert_everything_received(summary, received)
    for m in messages[:50]:
        key = key_from_line(m["msg"])
        assert key is not None and m["host"] == key.computer
        assert int(m["pri"]) // 8 == 20  # local4
