# SPDX-License-Identifier: GPL-3.0-or-later
"""The cost of durable acceptance: the Files driver with ``fsync`` (the default: fdatasync
before the batch is accepted, shared by concurrent batches) against ``fsync = false``.

Run: ``.venv/bin/pytest bench/test_bench_fsync.py -p no:cacheprovider -s``
(``WEC_BENCH_DIR`` picks the filesystem; default: pytest's temporary directory).

Each configuration writes the same batches from the same number of threads, in one run so
that they share the machine's load, and reports wall events/s and events per CPU-second
(process CPU time: what the collector pays, whatever the disk does). Nothing is asserted
about speed; bench/README.md has the numbers.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from tests.outputs.records import META, batch, events, raw_record
from wec.outputs.files import FileHandles, FilesDriver

THREADS = 8  # concurrent requests (sources) writing
BATCHES = 60  # per thread
BATCH = 100  # events per batch
MESSAGE = "An account was successfully logged on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-5-18\r\n" * 4

RESULTS: list[tuple[str, float, float, float]] = []
_SYNCS = [0]


def _counting_fdatasync(real: object) -> object:
    def fdatasync(fd: int) -> None:
        _SYNCS[0] += 1  # under the file's sync lock: no race for one shared file
        real(fd)  # type: ignore[operator]

    return fdatasync


def _run(directory: Path, *, fsync: bool, shared_file: bool) -> tuple[float, float, int]:
    handles = FileHandles()
    records = [raw_record(e) for e in events(BATCH, message=MESSAGE)]
    template = str(directory / ("all.xml" if shared_file else "{client}.xml"))
    drivers = [FilesDriver(path=template, fsync=fsync, handles=handles) for _ in range(THREADS)]
    batches = [
        batch(records, dataclasses.replace(META, principal=f"WS{n:03d}$@BENCH")) for n in range(THREADS)
    ]
    start = threading.Barrier(THREADS + 1)

    def work(n: int) -> None:
        start.wait()
        for _ in range(BATCHES):
            drivers[n].write(batches[n])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    handles.close_all()
    return wall, cpu, THREADS * BATCHES * BATCH


@pytest.mark.parametrize(
    ("name", "fsync", "shared_file"),
    [
        ("fsync=false, one file per source", False, False),
        ("fsync=true, one file per source", True, False),
        ("fsync=false, one shared file", False, True),
        ("fsync=true, one shared file (group commit)", True, True),
    ],
)
def test_files_fsync_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, fsync: bool, shared_file: bool
) -> None:
    # Counted, not replaced: the real fdatasync runs (syncs per batch shows the group commit).
    monkeypatch.setattr(os, "fdatasync", _counting_fdatasync(os.fdatasync))
    _SYNCS[0] = 0
    base = Path(os.environ.get("WEC_BENCH_DIR", tmp_path))
    directory = base / f"fsync-bench-{os.getpid()}-{len(RESULTS)}"
    directory.mkdir(parents=True)
    wall, cpu, count = _run(directory, fsync=fsync, shared_file=shared_file)
    RESULTS.append((name, count / wall, count / cpu if cpu else float("inf"), _SYNCS[0] / (count / BATCH)))
    for p in directory.iterdir():
        p.unlink()
    directory.rmdir()


def teardown_module() -> None:
    print(f"\nFiles driver, {THREADS} threads x {BATCHES} batches x {BATCH} events:")
    print(f"{'configuration':48} {'wall events/s':>14} {'events/CPU-s':>14} {'syncs/batch':>12}")
    for name, per_wall, per_cpu, syncs in RESULTS:
        print(f"{name:48} {per_wall:14.0f} {per_cpu:14.0f} {syncs:12.2f}")
