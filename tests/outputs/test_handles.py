# SPDX-License-Identifier: GPL-3.0-or-later
"""The bound on open output files (``outputs.files.files_max_open``): an LRU of handles."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wec.config import OutputsSettings
from wec.formats.base import EventMeta
from wec.outputs.base import OutputBatch
from wec.outputs.files import FilesDriver
from wec.outputs.handles import FileHandles


def _batch(principal: str, *records: bytes) -> OutputBatch:
    meta = EventMeta(
        ip="192.0.2.10",
        time_received=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        principal=principal,
        subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
        subscription_version="1B2C3D4E-0000-4000-8000-000000000001",
        subscription_name="security-core",
    )
    return OutputBatch(records=records, meta=meta)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_default_bound_is_a_setting() -> None:
    assert FileHandles().max_open == OutputsSettings().files_max_open == 512
    with pytest.raises(ValueError):
        FileHandles(max_open=0)


def test_opening_past_the_bound_closes_the_least_recently_used(tmp_path: Path) -> None:
    handles = FileHandles(max_open=3)
    try:
        fds = _open_fds()
        a, b, c = (handles.get(str(tmp_path / n)) for n in "abc")
        handles.get(str(tmp_path / "a"))  # a is now the most recently used
        d = handles.get(str(tmp_path / "d"))
        assert len(handles) == 3
        assert b.fh.closed  # the least recently used went
        assert not a.fh.closed and not c.fh.closed and not d.fh.closed
        assert _open_fds() == fds + 3
        assert handles.evicted == 1
        # Writing through a kept handle reuses it (no reopen per batch).
        assert handles.get(str(tmp_path / "c")) is c
    finally:
        handles.close_all()
    assert _open_fds() == fds


def test_many_sources_stay_within_the_bound_and_lose_nothing(tmp_path: Path) -> None:
    handles = FileHandles(max_open=4)
    driver = FilesDriver(path=str(tmp_path / "{client}.log"), handles=handles)
    fds = _open_fds()
    errors: list[BaseException] = []
    peak = 0

    def source(w: int) -> None:
        nonlocal peak
        try:
            for i in range(40):
                driver.write(_batch(f"M{(w * 7 + i) % 25:02d}$@EXAMPLE", f"w{w} {i}".encode()))
                peak = max(peak, len(handles))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=source, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert not errors, errors[0]
        assert peak <= 4
        assert _open_fds() <= fds + 4
        assert handles.evicted > 0
        lines = sorted(line for p in tmp_path.iterdir() for line in p.read_bytes().split(b"\n")[:-1])
        assert lines == sorted(f"w{w} {i}".encode() for w in range(6) for i in range(40))
    finally:
        handles.close_all()
    assert _open_fds() == fds
