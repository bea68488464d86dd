# SPDX-License-Identifier: GPL-3.0-or-later
"""Open output files shared by the Files outputs of one collector process.

Two subscriptions writing to the same file must not interleave half lines, so every Files
output of a process writes through one :class:`FileHandles`: one open handle and one lock per
path. wecd's :class:`~wec.daemon.Daemon` owns that object and hands it to the drivers in their
:class:`~wec.outputs.context.DriverContext`; it closes idle handles
(``files_descriptor_close_timeout``), all of them on SIGHUP (logrotate) and at shutdown.

The number of open handles is bounded (``files_max_open``): with a path per machine
(``{client}`` in the path), ten thousand sources would otherwise hold ten thousand
descriptors for the idle timeout. Opening one more than the bound closes the least recently
used handle (an LRU); a handle in use is not reopened per batch, only when it was evicted.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
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
    """Open files by path, closed after ``idle_timeout`` seconds unused (:meth:`close_idle`)
    and at most ``max_open`` at once (least recently used closed first)."""

    def __init__(self, idle_timeout: float = 600.0, max_open: int = 512) -> None:
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.idle_timeout = idle_timeout
        self.max_open = max_open
        self.evicted = 0  # handles closed to stay within max_open, since start
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._lock = threading.Lock()
        # Paths whose last write failed half-way: the file ends inside a line, so the next
        # write starts with a newline (else its first event is glued to the fragment).
        self.torn: set[str] = set()

    def get(self, path: str) -> _Handle:
        evict: list[_Handle] = []
        with self._lock:
            h = self._handles.get(path)
            if h is None or h.fh.closed:
                h = _Handle(Path(path))
                self._handles[path] = h
                while len(self._handles) > self.max_open:
                    evict.append(self._handles.popitem(last=False)[1])
                    self.evicted += 1
            else:
                self._handles.move_to_end(path)
            h.last_used = time.monotonic()
        # Closed outside the table's lock: a writer holding an evicted handle's lock finishes
        # its write first; the next writer of that path sees it closed and opens it again.
        for old in evict:
            with old.lock:
                old.fh.close()
        return h

    def is_open(self, path: str) -> bool:
        """Whether ``path`` has an open handle now (another thread may close it right after)."""
        h = self._handles.get(path)  # one dict read is atomic: the table's lock is not needed
        return h is not None and not h.fh.closed

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
