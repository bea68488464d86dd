# SPDX-License-Identifier: GPL-3.0-or-later
"""Load run: a real wecd (Kerberos, SLDC, Files outputs) under N simulated Windows machines.

    .venv/bin/python -m bench.load --machines 20 --events 2000 --batch 100 [--workers 2] [--format Json]

Reports events/s, MB/s (output bytes), ack latency percentiles, the collector's peak RSS
(all worker processes) and **events per collector CPU-second**: the user + system time of the
supervisor and its workers, read from ``/proc`` right before the simulated machines start and
right after the last Ack (robust on a shared machine, where wall-clock rates swing with the
neighbours' load). ``--profile DIR`` records a py-spy profile of the collector's processes
during the candidate run (``py-spy`` from requirements/test.txt; needs ptrace rights).
The baseline, measured in the same run with the same simulated traffic, is one
worker process writing the Raw format (the cheapest output); the candidate is what the
arguments ask for (more workers, a parsed format), and its ratio to the baseline is
printed. Bounded: every run stops after ``--duration`` seconds.

On a shared machine one run proves little (the same configuration moves by ±20% from one
minute to the next). ``--repeat N`` runs every configuration N times, interleaved, and adds
the medians; ``--before PATH`` adds, interleaved with each run, the same configuration served
by the wecd of another checkout (a ``git worktree`` of the commit to compare with; its own
``wec`` CLI initialises the database), which is how bench/README.md compares two commits::

    git worktree add /tmp/wec-before <commit>
    .venv/bin/python -m bench.load --machines 10 --events 5000 --workers 2 --format Json \
        --repeat 6 --before /tmp/wec-before

Each run also reports the machine's steal time (``/proc/stat``): CPU the hypervisor gave
to other guests, a hint of how loaded the host was; and the CPU time of the simulated machines
(``client_cpu_s``, this process) beside ``collector_per_client_cpu``: the client repeats the
same work in every run, so the ratio cancels most of the machine's drift (on this VM the
client's own CPU time for identical work moved by a third between runs minutes apart).

``--server-setting KEY=VALUE`` adds a line to wecd's ``[server]`` settings (e.g.
``thread_pool_size=8``); ``--pin`` puts the collector on every CPU but the last and the
simulated machines on the last one, to tell the collector's own cost from what sharing its
cores with the client adds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

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


def _collector_pids(pid: int) -> list[int]:
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return pids


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int, *, system_only: bool = False) -> dict[int, float]:
    """user + system (or system only) CPU time of the collector's processes, by pid, in
    seconds (/proc)."""
    out: dict[int, float] = {}
    for p in _collector_pids(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[11], fields[12]: utime, stime (the 14th and 15th fields of proc(5)).
        out[p] = (int(fields[12]) + (0 if system_only else int(fields[11]))) / _TICK
    return out


def _switches(pid: int) -> int:
    """Context switches so far of every thread of the collector's processes (``/proc``).

    A count, not a time: it does not move with the machine's speed. Threads handing the GIL
    (or a lock) to each other show here as switches per event."""
    total = 0
    for p in _collector_pids(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    for line in (task / "status").read_text().splitlines():
                        if "ctxt_switches:" in line:  # voluntary_ and nonvoluntary_
                            total += int(line.split()[1])
    return total


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    # A process that appeared during the run (a restarted worker) counts from zero.
    return sum(t - before.get(p, 0.0) for p, t in after.items())


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
    name: str, summary: Summary, seconds: float, xml_bytes: int, rss_kb: int | None, cpu_s: float
) -> dict[str, Any]:
    d = summary.to_dict()
    return {
        "name": name,
        "events_acked": d["events_acked"],
        "events_per_s": round(summary.events_acked / seconds, 1) if seconds else 0.0,
        "collector_cpu_s": round(cpu_s, 2),
        "events_per_cpu_s": round(summary.events_acked / cpu_s) if cpu_s else None,
        "cpu_us_per_event": round(cpu_s / summary.events_acked * 1e6, 1) if summary.events_acked else None,
        "mb_per_s": round(xml_bytes / seconds / 1e6, 2) if seconds else 0.0,
        "ack_latency_ms": d["ack_latency_ms"],
        "errors": d["errors"],
        "resent": d["resent"],  # requests refused (503) and sent again: their CPU is in the figure
        "peak_rss_mib": round(rss_kb / 1024, 1) if rss_kb else None,
        "ok": d["ok"],
    }


def _steal_seconds() -> float:
    """The machine's steal time so far, all CPUs (``/proc/stat``, 8th value of ``cpu``)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / _TICK if len(fields) > 8 else 0.0


@contextlib.contextmanager
def _code(path: Path | None) -> Iterator[None]:
    """Serve (and initialise) with the wec of ``path`` instead of this checkout's."""
    if path is None:
        yield
        return
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(path)  # before the editable install on sys.path
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


@contextlib.contextmanager
def _stages_env(directory: Path | None) -> Iterator[None]:
    """With ``--stages``: wecd starts with bench/stages/sitecustomize.py, which counts the
    CPU time of each step of a request (see that module) into ``directory``."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    paths = [str(ROOT / "bench" / "stages"), *filter(None, [os.environ.get("PYTHONPATH")])]
    with mock.patch.dict(
        os.environ, {"PYTHONPATH": os.pathsep.join(paths), "WEC_BENCH_STAGES": str(directory)}
    ):
        yield


def _read_stages(directory: Path, events: int) -> dict[str, Any]:
    """The stage totals of every collector process, summed: CPU µs per call and per event."""
    time.sleep(1.5)  # the collector is idle now; its next dump is the final count
    stages: dict[str, list[int]] = {}
    threads: dict[str, float] = {}
    for path in directory.glob("stages-*.json"):
        data = json.loads(path.read_text())
        for label, (ns, calls) in data["stages"].items():
            cell = stages.setdefault(label, [0, 0])
            cell[0] += ns
            cell[1] += calls
        for group, seconds in data["threads"].items():
            threads[group] = threads.get(group, 0.0) + seconds
    return {
        "steps": {
            label: {
                "calls": calls,
                "cpu_us_per_call": round(ns / calls / 1000, 1),
                "cpu_us_per_event": round(ns / events / 1000, 2) if events else None,
            }
            for label, (ns, calls) in stages.items()
            if calls
        },
        # Whole life of each thread group, start-up included (MainThread mostly is).
        "cpu_s_by_thread": {k: round(v, 2) for k, v in sorted(threads.items(), key=lambda kv: -kv[1])},
    }


def _run(
    name: str,
    work: Path,
    kdc: Any,
    keytabs: Path,
    args: argparse.Namespace,
    workers: int,
    fmt: str,
    code: Path | None = None,
) -> dict[str, Any]:
    directory = work / f"{name}-{time.monotonic_ns()}"
    stages = directory / "stages" if args.stages else None
    with _code(code), _stages_env(stages):
        report = _run_here(name, directory, kdc, keytabs, args, workers, fmt, stages)
    return report


def _run_here(
    name: str,
    directory: Path,
    kdc: Any,
    keytabs: Path,
    args: argparse.Namespace,
    workers: int,
    fmt: str,
    stages: Path | None,
) -> dict[str, Any]:
    extra = "\n".join([f"worker_processes = {workers}", *args.server_setting])
    c = Collector(directory, kdc, extra_settings=extra)
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
        time.sleep(1.0)  # let the workers finish starting (their start-up is not per-event cost)
        sampler = _RssSampler(c.proc.pid)
        sampler.start()
        spies = _start_profiles(c.proc.pid, args.profile, name, _spy_flags(args)) if args.profile else []
        cpu0 = _cpu_seconds(c.proc.pid)
        sys0 = _cpu_seconds(c.proc.pid, system_only=True)
        steal0 = _steal_seconds()
        switches0 = _switches(c.proc.pid)
        start = time.monotonic()
        client0 = os.times()
        with _pinned(c.proc.pid, args.pin):
            summary = _sim(c.url, c.port, keytabs, args)
        seconds = time.monotonic() - start
        client1 = os.times()
        steal = _steal_seconds() - steal0
        switches = _switches(c.proc.pid) - switches0
        cpu1 = _cpu_seconds(c.proc.pid)
        cpu = _cpu_used(cpu0, cpu1)
        kernel = _cpu_used(sys0, _cpu_seconds(c.proc.pid, system_only=True))
        peak = sampler.stop()
        _stop_profiles(spies)
        out = sum(p.stat().st_size for p in c.output_files("out/*"))
        report = _report(f"{name}: {workers} worker(s), Files/{fmt}", summary, seconds, out, peak, cpu)
        report["collector_system_cpu_s"] = round(kernel, 2)  # of collector_cpu_s: in the kernel
        report["machine_steal_s"] = round(steal, 2)
        # The simulated machines run in this process, on the same cores: what they cost
        # is what the collector competes with.
        client = client1.user + client1.system - client0.user - client0.system
        report["client_cpu_s"] = round(client, 2)
        # The client does the same work in every run of a configuration, so its CPU time
        # tracks how fast the shared machine was during the run; the ratio below moves much
        # less from run to run than either time alone (bench/README.md, "Fourth pass").
        report["collector_per_client_cpu"] = round(cpu / client, 3) if client > 0 else None
        acked = summary.events_acked
        report["context_switches_per_event"] = round(switches / acked, 3) if acked else None
        # Where the CPU went: the first process is wecd itself (the supervisor when there
        # are workers), the others its workers.
        report["cpu_s_by_process"] = [round(t - cpu0.get(p, 0.0), 2) for p, t in cpu1.items()]
        if stages is not None:
            report["stages"] = _read_stages(stages, acked)
        return report
    finally:
        c.stop()


def _spy_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """py-spy's sampling options: ``--gil`` keeps only the thread holding the GIL (what the
    interpreter spends, without the threads waiting for it), ``--native`` adds C frames."""
    return (("--gil",) if args.profile_gil else ()) + (("--native",) if args.profile_native else ())


@contextlib.contextmanager
def _pinned(collector_pid: int, enabled: bool) -> Iterator[None]:
    """With ``--pin``: the collector's threads on every CPU but the last, the simulated
    machines (threads of this process started from now on) on the last one. An experiment
    that tells the collector's own cost from what sharing its cores with the client adds."""
    if not enabled:
        yield
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin needs at least two CPUs")
    for pid in _collector_pids(collector_pid):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus[:-1])
    os.sched_setaffinity(0, cpus[-1:])  # this thread; the simulator's threads inherit it
    try:
        yield
    finally:
        os.sched_setaffinity(0, cpus)


def _start_profiles(
    pid: int, directory: str, name: str, extra: tuple[str, ...] = ()
) -> list[subprocess.Popen[bytes]]:
    """One ``py-spy record`` per collector process (raw collapsed stacks), stopped by SIGINT."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    procs = []
    for p in _collector_pids(pid):
        out = Path(directory) / f"{name}-{p}.txt"
        cmd = [spy, "record", "--format", "raw", "--rate", "200", "--nonblocking", *extra, "-o", str(out)]
        procs.append(subprocess.Popen([*cmd, "--pid", str(p)], stdout=subprocess.DEVNULL))
    time.sleep(0.5)
    return procs


def _stop_profiles(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--machines", type=int, default=10)
    p.add_argument("--events", type=int, default=1000, help="events per machine")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--workers", type=int, default=1, help="wecd worker processes")
    p.add_argument("--format", default="Raw", choices=("Raw", "RawJson", "Json", "Nxlog"))
    p.add_argument("--duration", type=float, default=300.0, help="upper bound of each run, seconds")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--profile", metavar="DIR", help="record py-spy profiles of the collector into DIR")
    p.add_argument("--profile-gil", action="store_true", help="profile: only the thread holding the GIL")
    p.add_argument("--profile-native", action="store_true", help="profile: include C frames")
    p.add_argument(
        "--pin",
        action="store_true",
        help="collector on all CPUs but the last, simulated machines on the last",
    )
    p.add_argument(
        "--stages", action="store_true", help="count the CPU time of each step of a request (bench/stages)"
    )
    p.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more [server] line of wecd's settings (TOML), e.g. thread_pool_size=8; repeatable",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of each configuration, interleaved")
    p.add_argument("--before", type=Path, help="also run the candidate on the wec of this checkout")
    args = p.parse_args(argv)
    if not 1 <= args.repeat <= 20:
        p.error("--repeat must be between 1 and 20")

    work = Path(tempfile.mkdtemp(prefix="wec-load-"))
    kdc = start_kdc(work / "kdc", clients=tuple(f"LOAD{i:03d}$" for i in range(1, args.machines + 1)))
    kdc.apply_env()
    keytabs = work / "keytabs"
    keytabs.mkdir()
    for principal, path in kdc.client_keytabs.items():
        shutil.copy(path, keytabs / (principal.split("@")[0].replace("$", "") + ".keytab"))
    results: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeat):
            if not args.no_baseline:
                results.append(_run("baseline", work, kdc, keytabs, args, 1, "Raw"))
            if args.before is not None:
                results.append(
                    _run("before", work, kdc, keytabs, args, args.workers, args.format, args.before.resolve())
                )
            results.append(_run("candidate", work, kdc, keytabs, args, args.workers, args.format))
    finally:
        kdc.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = next((r for r in results if r["name"].startswith("baseline")), None)
    for r in results:
        if base and r is not base and base["events_per_s"]:
            r["ratio_to_baseline"] = round(r["events_per_s"] / base["events_per_s"], 2)
    report: dict[str, Any] = {"machine": {"nproc": os.cpu_count()}, "args": vars(args), "results": results}
    report["args"]["before"] = str(args.before) if args.before else None
    if args.repeat > 1:
        report["medians"] = _medians(results)
    print(json.dumps(report, indent=2))
    return 0


def _medians(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per configuration, the median of each rate over its runs."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["name"] for r in results):
        runs = [r for r in results if r["name"] == name]
        out[name] = {
            "runs": len(runs),
            "cpu_us_per_event": statistics.median(r["cpu_us_per_event"] or 0.0 for r in runs),
            "events_per_cpu_s": statistics.median(r["events_per_cpu_s"] or 0 for r in runs),
            "events_per_s": statistics.median(r["events_per_s"] for r in runs),
            "ack_p99_ms": statistics.median(r["ack_latency_ms"]["p99"] for r in runs),
            "context_switches_per_event": statistics.median(
                r["context_switches_per_event"] or 0.0 for r in runs
            ),
            "collector_per_client_cpu": statistics.median(
                r.get("collector_per_client_cpu") or 0.0 for r in runs
            ),
            "all_ok": all(r["ok"] for r in runs),
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
