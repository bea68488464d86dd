# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a wecd request's CPU goes, step by step: ``bench/load.py --stages``.

Put on wecd's ``PYTHONPATH`` by the bench only (wec never imports it). At start-up it wraps
the functions of :data:`STAGES` so that each call adds its thread's CPU time
(``time.thread_time_ns``: user + system, this thread only, none of the time spent waiting) to
its stage, and writes the totals, with the CPU time of each thread group, to
``$WEC_BENCH_STAGES/stages-<pid>.json`` every second. Stages nest (``app (all)`` contains
``decrypt``): each is an inclusive figure, per call.

Why not a sampling profiler: on this VM py-spy's attributions around futexes mislead (bench
README, "Third pass"), and perf sees C frames only; counting each step's own CPU time is exact
at ~1 µs per call.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

# (module, attribute, label) in the order a request meets them.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("wec.transport.server", "_Connection.communicate", "request thread: connection turn (all)"),
    ("cheroot.server", "HTTPRequest.parse_request", "  HTTP request line and headers"),
    ("wec.transport.app", "WecApp.__call__", "  WSGI app (all)"),
    ("wec.transport.app", "WecApp._authenticate", "    authentication"),
    ("wec.transport.app", "WecApp._read_body", "    body read"),
    ("wec.transport.app", "WecApp._decrypt", "    decryption"),
    ("wec.transport.app", "WecApp._decompress", "    SLDC decompression"),
    ("wec.transport.app", "WecApp._parse", "    UTF-16 decoding and SOAP parse"),
    ("wec.service", "CollectorService.handle", "    service (all)"),
    ("wec.service", "CollectorService._resolve", "      subscription lookup"),
    ("wec.service", "CollectorService._check_computers", "      System/Computer check"),
    ("wec.metrics", "Metrics.events", "      input metrics"),
    ("wec.outputs.pipeline", "Pipeline.deliver", "      outputs: format, hand-off, wait"),
    ("wec.outputs.pipeline", "_format_all", "        formats"),
    ("wec.store.sqlite", "SQLiteStore.put_bookmark", "      bookmark (SQLite)"),
    ("wec.store.postgres", "PostgresStore.put_bookmark", "      bookmark (PostgreSQL)"),
    ("wec.store.heartbeats", "HeartbeatQueue.record", "      heartbeat record"),
    ("wec.service", "build_ack", "      Ack"),
    ("wec.auth.kerberos", "KerberosSession.encrypt_response", "    response encryption"),
    ("wec.metrics", "Metrics.http", "    HTTP metrics"),
    ("cheroot.wsgi", "Gateway.write", "  response write"),
    ("wec.outputs.pipeline", "_write_one", "output thread: one output's write"),
    ("wec.outputs.files", "_group_sync", "  Files fdatasync"),
)

_totals: dict[str, list[int]] = {}  # label -> [CPU ns, calls]
_lock = threading.Lock()


def _timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    cell = _totals.setdefault(label, [0, 0])

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.thread_time_ns() - start
            with _lock:
                cell[0] += spent
                cell[1] += 1

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _install() -> None:
    for module_name, attribute, label in STAGES:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue  # e.g. psycopg2 absent: no PostgreSQL stage
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(getattr(owner, name), label))


def _threads() -> dict[str, float]:
    """CPU seconds by thread name, digits folded ("wec-output-N"), from each thread's
    ``schedstat`` (nanoseconds on the CPU; ``stat``'s tick counts are sampled, and miss most
    of a thread that runs in short bursts)."""
    groups: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        key = re.sub(r"\d+", "N", thread.name)
        groups[key] = groups.get(key, 0.0) + ns / 1e9
    return groups


def _dump(directory: str) -> None:
    with _lock:
        stages = {label: list(cell) for label, cell in _totals.items()}
    data = {"pid": os.getpid(), "stages": stages, "threads": _threads()}
    path = os.path.join(directory, f"stages-{os.getpid()}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(data, out)
    os.replace(path + ".tmp", path)


def _start_dumper(directory: str) -> None:
    def loop() -> None:
        while True:
            time.sleep(1.0)
            with contextlib.suppress(Exception):  # a bench aid must never take wecd down
                _dump(directory)

    threading.Thread(target=loop, name="bench-stages", daemon=True).start()


_DIRECTORY = os.environ.get("WEC_BENCH_STAGES")
if _DIRECTORY:
    _install()
    _start_dumper(_DIRECTORY)
    os.register_at_fork(after_in_child=lambda: _start_dumper(_DIRECTORY))  # worker processes
