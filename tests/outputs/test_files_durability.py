# SPDX-License-Identifier: GPL-3.0-or-later
"""Files durability (issue 13, "accepted means durable"): a batch is on disk before write()
returns, concurrent batches share fdatasync calls, new files and directories have their
directory entries synced, and ``fsync = false`` opts out.

What reaches the platter cannot be observed without cutting the power, so these tests watch
the system calls that put it there: ``os.fdatasync`` / ``os.fsync`` are wrapped (the real
calls still run) to record, at each call, how many bytes the file holds. A batch is durable
when a sync that started after its last byte was written covered it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wec.formats.base import EventMeta
from wec.outputs.base import OutputBatch
from wec.outputs.context import DriverContext
from wec.outputs.files import FileHandles, FilesDriver

META = EventMeta(
    ip="192.0.2.10",
    time_received=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    principal="WIN10$@WINDOMAIN.LOCAL",
    subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
    subscription_version="1B2C3D4E-0000-4000-8000-000000000001",
    subscription_name="security-core",
)


class SyncLog:
    """Wraps os.fdatasync and os.fsync: records (kind, what, size synced) then runs them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, int, int]] = []  # (kind, inode, size at the call)
        self.dirs: list[int] = []  # inodes of the directories fsync'ed
        self.lock = threading.Lock()
        self._delay = delay
        real_fdatasync, real_fsync = os.fdatasync, os.fsync

        def fdatasync(fd: int) -> None:
            st = os.fstat(fd)
            if self._delay is not None:
                self._delay.wait(0.01)  # a slow disk: lets writers pile up behind the sync
            real_fdatasync(fd)
            with self.lock:
                self.calls.append(("fdatasync", st.st_ino, st.st_size))

        def fsync(fd: int) -> None:
            st = os.fstat(fd)
            real_fsync(fd)
            with self.lock:
                if stat.S_ISDIR(st.st_mode):
                    self.dirs.append(st.st_ino)
                else:
                    self.calls.append(("fsync", st.st_ino, st.st_size))

        monkeypatch.setattr(os, "fdatasync", fdatasync)
        monkeypatch.setattr(os, "fsync", fsync)

    def synced_size(self, inode: int) -> int:
        with self.lock:
            return max((size for _, ino, size in self.calls if ino == inode), default=0)


def driver(path: Path, **config: Any) -> FilesDriver:
    return FilesDriver.from_config({"path": str(path), **config}, context=DriverContext())


def test_fsync_is_the_default_and_each_batch_is_on_disk_when_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    target = tmp_path / "messages"
    d = driver(target)
    assert d.fsync is True
    for i in range(5):
        d.write(OutputBatch(records=(b"<Event>%d</Event>" % i,), meta=META))
        # what write() accepted is covered by a sync that ran before it returned
        assert syncs.synced_size(target.stat().st_ino) == target.stat().st_size
    assert [kind for kind, _, _ in syncs.calls] == ["fdatasync"] * 5
    d.close()


def test_a_new_file_and_its_new_directories_have_their_entries_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch)
    target = tmp_path / "a" / "b" / "messages"
    d = driver(target)
    d.write(OutputBatch(records=(b"<Event>1</Event>",), meta=META))
    # tmp_path names "a", "a" names "b", "b" names "messages": all three entries are synced
    expected = {(tmp_path / p).stat().st_ino for p in ("", "a", "a/b")}
    assert set(syncs.dirs) == expected
    syncs.dirs.clear()
    d.write(OutputBatch(records=(b"<Event>2</Event>",), meta=META))
    assert syncs.dirs == []  # the file exists now: only its data is synced
    d.close()


def test_fsync_false_opts_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = SyncLog(monkeypatch)
    target = tmp_path / "new" / "messages"
    d = driver(target, fsync=False)
    d.write(OutputBatch(records=(b"<Event>1</Event>",), meta=META))
    assert target.read_bytes() == b"<Event>1</Event>\n"
    assert syncs.calls == [] and syncs.dirs == []
    d.close()


def test_concurrent_batches_share_fdatasync_calls_and_each_is_covered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = SyncLog(monkeypatch, delay=threading.Event())
    target = tmp_path / "messages"
    handles = FileHandles()
    drivers = [FilesDriver(path=str(target), handles=handles) for _ in range(8)]
    batches_per_thread = 25
    ends: list[int] = []  # file size right after each write() returned, then checked
    problems: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(drivers))

    def writer(n: int, d: FilesDriver) -> Callable[[], None]:
        def run() -> None:
            start.wait(10)
            for i in range(batches_per_thread):
                d.write(OutputBatch(records=(b"<Event>%d.%d</Event>" % (n, i),), meta=META))
                size = target.stat().st_size
                # Everything written before this write() returned includes our batch; the
                # syncs done so far must cover at least the offset our batch ended at.
                with lock:
                    ends.append(size)
                line_end = _end_of(target, b"<Event>%d.%d</Event>\n" % (n, i))
                if syncs.synced_size(target.stat().st_ino) < line_end:
                    problems.append(f"{n}.{i} accepted before a sync covered it")

        return run

    threads = [threading.Thread(target=writer(n, d)) for n, d in enumerate(drivers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    handles.close_all()
    total = len(drivers) * batches_per_thread
    assert problems == []
    assert len(target.read_bytes().splitlines()) == total
    # group commit: batches written while a sync ran share the next one
    assert 0 < len(syncs.calls) < total


def _end_of(path: Path, line: bytes) -> int:
    data = path.read_bytes()
    at = data.index(line)
    return at + len(line)


def test_a_failed_fdatasync_is_never_trusted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # After an fdatasync error Linux may mark the pages clean: a retry on the same file
    # would "succeed" with the data lost. The handle is dropped; the batch refused.
    from wec.outputs.base import OutputError

    target = tmp_path / "messages"
    d = driver(target)
    d.write(OutputBatch(records=(b"<Event>1</Event>",), meta=META))
    real = os.fdatasync

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OutputError, match="Input/output error"):
        d.write(OutputBatch(records=(b"<Event>2</Event>",), meta=META))
    assert len(d.handles) == 0  # dropped: the next batch reopens the file
    monkeypatch.setattr(os, "fdatasync", real)
    d.write(OutputBatch(records=(b"<Event>2</Event>",), meta=META))
    d.close()
