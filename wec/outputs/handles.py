# SPDX-License-Identifier: GPL-3.0-or-later
"""Open output files shared by the Files outputs of one collector process.

Two subscriptions writing to the same file must not interleave half lines, so every Files
output of a process writes through one :class:`FileHandles`: one open handle and one lock per
path. wecd's :class:`~wec.daemon.Daemon` owns that object and hands it to the drivers in their
:class:`~wec.outputs.context.DriverContext`; it closes idle handles
(``files_descriptor_close_timeout``), all of them on SIGHUP (logrotate) and at shutdown.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

__all__ = ["FileHandles"]


class _Handle:
    __slots__ = ("fh", "last_used", "lock", "sync_lock", "synced", "written")

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "ab", buffering=0)  # noqa: SIM115 - kept open across batches
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        # Group commit (wec.outputs.files): batches written (under `lock`) and the number of
        # them known to be on disk; `sync_lock` lets one thread fdatasync for all waiting.
        self.written = 0
        self.synced = 0
        self.sync_lock = threading.Lock()


class FileHandles:
    """Open files by path, closed after ``idle_timeout`` seconds unused (:meth:`close_idle`)."""

    def __init__(self, idle_timeout: float = 600.0) -> None:
        self.idle_timeout = idle_timeout
        self._handles: dict[str, _Handle] = {}
        self._lock = threading.Lock()
        # Paths whose last write failed half-way: the file ends inside a line, so the next
        # write starts with a newline (else its first event is glued to the fragment).
        self.torn: set[str] = set()

    def get(self, path: str) -> _Handle:
        with self._lock:
            h = self._handles.get(path)
            if h is None or h.fh.closed:
                h = _Handle(Path(path))
                self._handles[path] = h
            h.last_used = time.monotonic()
            return h

    def drop(self, path: str) -> None:
        with self._lock:
            h = self._handles.pop(path, None)
        if h is not None:
            with h.lock:
                h.fh.close()

    def close_idle(self) -> int:
        """Close handles unused for ``idle_timeout`` seconds; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [p for p, h in self._handles.items() if now - h.last_used >= self.idle_timeout]
        for p in idle:
            self.drop(p)
        return len(idle)

    def close_all(self) -> None:
        with self._lock:
            paths = list(self._handles)
        for p in paths:
            self.drop(p)

    def __len__(self) -> int:
        return len(self._handles)
