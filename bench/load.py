# SPDX-License-Identifier: GPL-3.0-or-later
"""Load run: a real wecd (Kerberos, SLDC, Files outputs) under N simulated Windows machines.

    .venv/bin/python -m bench.load --machines 20 --events 2000 --batch 100 [--workers 2] [--format Json]

Reports events/s, MB/s (output bytes), ack latency percentiles, and the collector's peak RSS
(all worker processes). The baseline, measured in the same run with the same simulated
traffic, is one worker process writing the Raw format (the cheapest output); the candidate is
what the arguments ask for (more workers, a parsed format), and its ratio to the baseline is
printed. Bounded: every run stops after ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import Collector, subscription_toml  # noqa: E402
from wec.sim.kdc import start_kdc  # noqa: E402
from wec.sim.machine import MachineConfig  # noqa: E402
from wec.sim.runner import RunConfig, Summary, run_machines  # noqa: E402


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and its children, in KiB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class _RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            self.peak = max(self.peak, _rss_kb(self.pid))

    def stop(self) -> int:
        self._stop_event.set()
        self.join(2)
        return self.peak


def _sim(url: str, port: int, keytabs: Path, args: argparse.Namespace) -> Summary:
    template = MachineConfig(
        manager_url=url,
        computer="",
        connect_to=("127.0.0.1", port),
        events=args.events,
        batch_size=args.batch,
        duration_s=args.duration,
        max_retries=10,
        retry_backoff_s=0.2,
        retry_backoff_max_s=1.0,
        timeout_s=60.0,
    )
    cfg = RunConfig(
        template=template,
        machines=args.machines,
        principal_format="LOAD{n:03d}$@WEC.TEST",
        keytab_dir=str(keytabs),
    )
    return run_machines(cfg)


def _report(
    name: str, summary: Summary, seconds: float, xml_bytes: int, rss_kb: int | None
) -> dict[str, Any]:
    d = summary.to_dict()
    return {
        "name": name,
        "events_acked": d["events_acked"],
        "events_per_s": round(summary.events_acked / seconds, 1) if seconds else 0.0,
        "mb_per_s": round(xml_bytes / seconds / 1e6, 2) if seconds else 0.0,
        "ack_latency_ms": d["ack_latency_ms"],
        "errors": d["errors"],
        "peak_rss_mib": round(rss_kb / 1024, 1) if rss_kb else None,
        "ok": d["ok"],
    }


def _run(
    name: str, work: Path, kdc: Any, keytabs: Path, args: argparse.Namespace, workers: int, fmt: str
) -> dict[str, Any]:
    c = Collector(work / name, kdc, extra_settings=f"worker_processes = {workers}")
    c.add_subscription(
        subscription_toml(
            outputs=f"""
[[outputs]]
driver = "Files"
format = "{fmt}"
config = {{ path = "out/{{client}}.log" }}
""",
            options="max_time = 1\nheartbeat_interval = 600",
        )
    )
    c.start()
    try:
        assert c.proc is not None
        sampler = _RssSampler(c.proc.pid)
        sampler.start()
        start = time.monotonic()
        summary = _sim(c.url, c.port, keytabs, args)
        seconds = time.monotonic() - start
        peak = sampler.stop()
        out = sum(p.stat().st_size for p in c.output_files("out/*"))
        return _report(f"{name}: {workers} worker(s), Files/{fmt}", summary, seconds, out, peak)
    finally:
        c.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--machines", type=int, default=10)
    p.add_argument("--events", type=int, default=1000, help="events per machine")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--workers", type=int, default=1, help="wecd worker processes")
    p.add_argument("--format", default="Raw", choices=("Raw", "RawJson", "Json", "Nxlog"))
    p.add_argument("--duration", type=float, default=300.0, help="upper bound of each run, seconds")
    p.add_argument("--no-baseline", action="store_true")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="wec-load-"))
    kdc = start_kdc(work / "kdc", clients=tuple(f"LOAD{i:03d}$" for i in range(1, args.machines + 1)))
    kdc.apply_env()
    keytabs = work / "keytabs"
    keytabs.mkdir()
    for principal, path in kdc.client_keytabs.items():
        shutil.copy(path, keytabs / (principal.split("@")[0].replace("$", "") + ".keytab"))
    results: list[dict[str, Any]] = []
    try:
        if not args.no_baseline:
            results.append(_run("baseline", work, kdc, keytabs, args, 1, "Raw"))
        results.append(_run("candidate", work, kdc, keytabs, args, args.workers, args.format))
    finally:
        kdc.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = next((r for r in results if r["name"].startswith("baseline")), None)
    for r in results:
        if base and r is not base and base["events_per_s"]:
            r["ratio_to_baseline"] = round(r["events_per_s"] / base["events_per_s"], 2)
    print(
        json.dumps({"machine": {"nproc": os.cpu_count()}, "args": vars(args), "results": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
