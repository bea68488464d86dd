# SPDX-License-Identifier: GPL-3.0-or-later
"""Many machines against one node: open descriptors, memory and Ack latency at scale.

    .venv/bin/python -m bench.many --machines 300 --wave 100          # the small run (~1 min)
    .venv/bin/python -m bench.many --machines 10000 --wave 200        # the big one (minutes)

A real wecd (``worker_processes = 2``, Kerberos, SLDC, SQLite, one Files output with a file per
machine, ``{client}`` in the path) and ``--machines`` simulated machines, each with its own
Kerberos principal. Machines run in waves of ``--wave`` at once; each enumerates, sends its
heartbeat and ``--batches`` batches of ``--batch`` events, and stops. Reported: events
acked / sent, the worst per-wave Ack latency percentiles, the collector's peak RSS (all
processes), its open descriptors (peak during the run and after it) and its threads, and the
collector CPU-seconds. The open output files are bounded by ``outputs.files.files_max_open``
(``--max-open``, per worker process). Bounded in time by ``--duration``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import _collector_pids, _cpu_seconds, _cpu_used, _rss_kb  # noqa: E402
from tests.e2e.harness import Collector, subscription_toml  # noqa: E402
from wec.sim.kdc import Kdc, start_kdc  # noqa: E402
from wec.sim.machine import MachineConfig  # noqa: E402
from wec.sim.runner import RunConfig, Summary, run_machines  # noqa: E402


def _count(pid: int, what: str) -> int:
    total = 0
    for p in _collector_pids(pid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{p}/{what}"))
    return total


def _fd_kinds(pid: int) -> dict[str, int]:
    """Open descriptors of the collector by kind: output files, sockets, other."""
    kinds = {"output_files": 0, "sockets": 0, "other": 0}
    for p in _collector_pids(pid):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{p}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{p}/fd/{fd}")
                    if target.startswith("socket:"):
                        kinds["sockets"] += 1
                    elif "/out/" in target:
                        kinds["output_files"] += 1
                    else:
                        kinds["other"] += 1
    return kinds


class _Sampler(threading.Thread):
    """Peak RSS and peak open descriptors of the collector, every 0.5 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.rss_kb, self.fds, self.files = pid, 0, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            self.rss_kb = max(self.rss_kb, _rss_kb(self.pid))
            self.fds = max(self.fds, _count(self.pid, "fd"))
            self.files = max(self.files, _fd_kinds(self.pid)["output_files"])

    def stop(self) -> None:
        self._stop_event.set()
        self.join(3)


def _add_clients(kdc: Kdc, names: list[str], keytabs: Path) -> None:
    """Every machine principal and its keytab, with one kadmin.local for all (one process
    per principal would take a quarter of an hour for ten thousand)."""
    lines = []
    for name in names:
        principal = f"{name}@{kdc.realm}"
        kt = keytabs / f"{name.replace('$', '')}.keytab"
        lines += [f"addprinc -randkey {principal}", f"ktadd -k {kt} {principal}"]
    subprocess.run(
        ["kadmin.local", "-r", kdc.realm],
        input="\n".join(lines) + "\nquit\n",
        text=True,
        env={**os.environ, **kdc.env},
        check=True,
        capture_output=True,
        timeout=1800,
    )


def _merge(total: Summary | None, s: Summary, worst: dict[str, float]) -> Summary:
    for k, v in s.ack_latency_ms.items():
        worst[k] = max(worst.get(k, 0.0), v)
    if total is None:
        return s
    for f in (
        "events_sent",
        "events_acked",
        "batches_sent",
        "batches_acked",
        "heartbeats_sent",
        "heartbeats_acked",
        "failed_batches",
        "enumerations",
        "machines",
        "resent",
    ):
        setattr(total, f, getattr(total, f) + getattr(s, f))
    for k, v in s.errors.items():
        total.errors[k] = total.errors.get(k, 0) + v
    return total


# Why wecd answered 503, by the words of its log line (wec.transport.app, .server).
_REFUSALS = {
    "subscription at max_requests_per_subscription": "batches already in delivery",
    "all threads busy (max_queued_requests)": "server.max_queued_requests",
    "unauthenticated per address (max_connections_per_address)": "server.max_connections_per_address",
    "database unavailable": "database unavailable",
    "output failed": "output(s) failed",
}


def _refusals(log: str) -> dict[str, int]:
    """503s in wecd's log, by reason: one line per refusal (the connection-level refusals
    of wec.transport.server are rate-limited in the log, so those counts are lower bounds)."""
    lines = [line for line in log.splitlines() if " 503 " in line or "refusing connection from" in line]
    out = {name: sum(words in line for line in lines) for name, words in _REFUSALS.items()}
    out["other"] = len(lines) - sum(out.values())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.many", description=__doc__.split("\n")[0])
    p.add_argument("--machines", type=int, default=300)
    p.add_argument("--wave", type=int, default=100, help="machines at once")
    p.add_argument("--batches", type=int, default=2)
    p.add_argument("--batch", type=int, default=10, help="events per batch")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-open", type=int, default=512, help="outputs.files.files_max_open")
    p.add_argument("--format", default="Json", choices=("Raw", "RawJson", "Json", "Nxlog"))
    p.add_argument("--duration", type=float, default=900.0, help="upper bound of the run, seconds")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="wec-many-"))
    names = [f"M{i:05d}$" for i in range(1, args.machines + 1)]
    kdc = start_kdc(work / "kdc", clients=())
    kdc.apply_env()
    keytabs = work / "keytabs"
    keytabs.mkdir()
    t0 = time.monotonic()
    _add_clients(kdc, names, keytabs)
    setup_s = time.monotonic() - t0
    c = Collector(
        work / "wecd",
        kdc,
        extra_settings=f"worker_processes = {args.workers}",
        extra_sections=f"[outputs.files]\nfiles_max_open = {args.max_open}\n",
    )
    c.add_subscription(
        subscription_toml(
            outputs=f"""
[[outputs]]
driver = "Files"
format = "{args.format}"
config = {{ path = "out/{{client}}.log" }}
""",
            options="max_time = 1\nheartbeat_interval = 600",
        )
    )
    result: dict[str, Any] = {}
    try:
        c.start()
        assert c.proc is not None
        time.sleep(1.0)
        pid = c.proc.pid
        fds_before = _count(pid, "fd")
        sampler = _Sampler(pid)
        sampler.start()
        cpu0 = _cpu_seconds(pid)
        start = time.monotonic()
        total: Summary | None = None
        worst: dict[str, float] = {}
        first = 1
        while first <= args.machines and time.monotonic() - start < args.duration:
            n = min(args.wave, args.machines - first + 1)
            template = MachineConfig(
                manager_url=c.url,
                computer="",
                connect_to=("127.0.0.1", c.port),
                events=args.batches * args.batch,
                batch_size=args.batch,
                duration_s=max(30.0, args.duration - (time.monotonic() - start)),
                max_retries=10,
                retry_backoff_s=0.2,
                retry_backoff_max_s=2.0,
                timeout_s=60.0,
            )
            cfg = RunConfig(
                template=template,
                machines=n,
                first=first,
                computer_format="m{n:05d}.wec.test",
                principal_format="M{n:05d}$@" + kdc.realm,
                keytab_dir=str(keytabs),
            )
            total = _merge(total, run_machines(cfg), worst)
            first += n
        seconds = time.monotonic() - start
        cpu = _cpu_used(cpu0, _cpu_seconds(pid))
        sampler.stop()
        time.sleep(2.0)  # let the last connections close
        assert total is not None
        files = list(c.output_files("out/*"))
        result = {
            "machines": total.machines,
            "events_sent": total.events_sent,
            "events_acked": total.events_acked,
            "heartbeats_acked": total.heartbeats_acked,
            "enumerations": total.enumerations,
            "failed_batches": total.failed_batches,
            "resent": total.resent,  # requests answered 503 and sent again
            "refusals_503": _refusals(c.logs()),
            "errors": total.errors,
            "all_acked": total.events_acked == total.events_sent and total.failed_batches == 0,
            "ack_latency_ms_worst_wave": worst,
            "run_s": round(seconds, 1),
            "principals_setup_s": round(setup_s, 1),
            "collector_cpu_s": round(cpu, 1),
            "events_per_cpu_s": round(total.events_acked / cpu) if cpu else None,
            "peak_rss_mib": round(sampler.rss_kb / 1024, 1),
            "fds_before": fds_before,
            "fds_peak": sampler.fds,
            "fds_after": _count(pid, "fd"),
            "fds_after_by_kind": _fd_kinds(pid),
            "output_fds_peak": sampler.files,
            "threads_after": _count(pid, "task"),
            "output_files": len(files),
            "files_max_open_per_worker": args.max_open,
        }
    finally:
        c.stop()
        kdc.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"args": vars(args), "result": result}, indent=2))
    return 0 if result.get("all_acked") else 1


if __name__ == "__main__":
    sys.exit(main())
