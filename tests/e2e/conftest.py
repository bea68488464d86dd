# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the end-to-end suite: a real wecd per test, simulated Windows machines."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc
from wec.sim.events import EventKey, key_from_line
from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, Summary, run_machines

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector(tmp_path: Path, kdc: Kdc) -> Iterator[Collector]:
    """A collector with the default e2e subscription (Files/Raw), not started yet."""
    c = Collector(tmp_path / "collector", kdc)
    c.add_subscription(subscription_toml())
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def keytab_dir(tmp_path_factory: pytest.TempPathFactory, kdc: Kdc) -> Path:
    """Per-machine keytabs SIM001..SIM008 named as the simulator expects (<NAME>.keytab)."""
    d = tmp_path_factory.mktemp("keytabs")
    for i in range(1, 9):
        kt = kdc.add_client(f"SIM{i:03d}$")
        shutil.copy(kt, d / f"SIM{i:03d}.keytab")
    return d


def run_sim(
    collector: Collector,
    keytab_dir: Path,
    *,
    machines: int = 2,
    events: int = 50,
    batch: int = 20,
    first: int = 1,
    **overrides: Any,
) -> Summary:
    """Run simulated machines against ``collector`` (bounded in events and time)."""
    template = MachineConfig(
        manager_url=collector.url,
        computer="",
        connect_to=("127.0.0.1", collector.port),
        events=events,
        batch_size=batch,
        duration_s=overrides.pop("duration_s", 60.0),
        track_keys=True,
        max_retries=overrides.pop("max_retries", 3),
        retry_backoff_s=overrides.pop("retry_backoff_s", 0.2),
        retry_backoff_max_s=overrides.pop("retry_backoff_max_s", 1.0),
        timeout_s=20.0,
    )
    template = replace(template, **overrides)
    cfg = RunConfig(
        template=template,
        machines=machines,
        principal_format="SIM{n:03d}$@WEC.TEST",
        keytab_dir=str(keytab_dir),
        first=first,
    )
    return run_machines(cfg)


def output_keys(collector: Collector, pattern: str = "out/**/*") -> Counter[EventKey]:
    """Every event key found in the output files (one line per event), with multiplicity."""
    keys: Counter[EventKey] = Counter()
    for path in collector.output_files(pattern):
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            key = key_from_line(line)
            if key is not None:
                keys[key] += 1
    return keys


class BackgroundSim:
    """Simulated machines running in a thread while a test breaks and repairs things."""

    def __init__(self, collector: Collector, keytab_dir: Path, **kwargs: Any) -> None:
        self._summary: Summary | None = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._summary = run_sim(collector, keytab_dir, **kwargs)
            except BaseException as err:  # surfaced by result()
                self._error = err

        self._thread = threading.Thread(target=target, name="background-sim")
        self._thread.start()

    def result(self, timeout: float = 120.0) -> Summary:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the simulated machines did not finish in time"
        if self._error is not None:
            raise self._error
        assert self._summary is not None
        return self._summary


def patient_sim(collector: Collector, keytab_dir: Path, **kwargs: Any) -> BackgroundSim:
    """Machines that keep resending (short backoff, many retries) through an outage."""
    kwargs.setdefault("max_retries", 30)
    kwargs.setdefault("retry_backoff_s", 0.2)
    kwargs.setdefault("retry_backoff_max_s", 0.5)
    return BackgroundSim(collector, keytab_dir, **kwargs)


def saw_status(collector: Collector, status: int, timeout: float = 30.0) -> bool:
    """Wait until the collector's access log shows a response with ``status``."""
    log = collector.directory / "access.log"
    return collector.wait_for(lambda: log.exists() and f'" {status} ' in log.read_text(), timeout)
