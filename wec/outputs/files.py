# SPDX-License-Identifier: GPL-3.0-or-later
"""The Files driver: one event per line, appended to a path built from a template.

Path variables (OpenWEC's, docs/outputs.md): ``{ip}``, ``{ip:N}`` (first N components),
``{client}`` / ``{principal}`` (restricted to ``[A-Za-z0-9._@-]``, ``$`` dropped, at most 255
characters, so a principal cannot climb out of the directory with ``../``), ``{node}``.

File handles are shared by every output of the process that writes to the same path (two
subscriptions writing to one file must not interleave half lines): the
:class:`~wec.outputs.handles.FileHandles` of the driver's context, which wecd's Daemon owns,
closes after ``files_descriptor_close_timeout`` seconds idle, and closes all on SIGHUP so that
logrotate's moved files are released and new ones created. A driver built without shared
handles opens its own and closes them with itself.

Durability point (docs/outputs.md, "Durability"): a batch is accepted once its lines are on
disk: written, then ``fdatasync``, and when the write created the file or its directories,
their parent directories synced too, so the file cannot vanish with a power cut. Concurrent
batches to one file share one ``fdatasync`` (group commit: a thread that finds a sync already
under way waits for it and, if that sync covered its batch, is done). ``fsync = false`` opts
out: accepted then means handed to the kernel, and a power cut can lose acknowledged events
whose bookmark already reached the database.

A failed write (ENOSPC, EFBIG past ``RLIMIT_FSIZE``, EIO) is cut back: the file is truncated
to where the batch began, so no partial line is left for a reader to take for an event, and
the batch is refused (503) until the disk takes it again. If even the truncation fails, the
next write starts with a newline so that the fragment stays a line of its own.

Newlines inside an event (Raw XML keeps the CR LF of rendered messages) are written as the XML
character references ``&#13;`` / ``&#10;`` unless ``escape_newlines = false``, so that a line
is always exactly one event.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader
from wec.outputs.handles import FileHandles

__all__ = ["FileHandles", "FilesDriver", "files_legacy_path", "render_path", "sanitize_client"]

log = logging.getLogger("wec.outputs.files")

_CLIENT_ALLOWED = re.compile(r"[^A-Za-z0-9._@-]")
_VARIABLE = re.compile(r"\{(ip|ip:\d+|client|principal|node)\}")
# OpenWEC's legacy keys (base, split_on_addr_index, …) are turned into `path` when the
# subscription is loaded (FilesDriver.upgrade_config), so the driver itself only knows `path`.
_KNOWN_KEYS = {"path", "fsync", "escape_newlines"}
_LEGACY_KEYS = ("base", "split_on_addr_index", "append_node_name", "filename")


def files_legacy_path(
    base: str | None, split_on_addr_index: int | None, append_node_name: bool | None, filename: str | None
) -> str:
    """The ``path`` template equivalent to OpenWEC's pre-0.2 Files keys.

    ``base/[{ip:N}/…/{ip:3}/]{ip}/{principal}/[{node}/]filename``, where the ``{ip:i}`` levels
    run from ``split_on_addr_index`` to 3 and ``filename`` defaults to ``messages``.
    """
    parts: list[str] = []
    if split_on_addr_index is not None:
        parts.extend(f"{{ip:{i}}}" for i in range(split_on_addr_index, 4))
    parts += ["{ip}", "{principal}"]
    if append_node_name:
        parts.append("{node}")
    parts.append(filename if filename is not None else "messages")
    return posixpath.join(base or "", *parts)


def _legacy(config: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    # Strict: these keys come from files, where `split_on_addr_index = "2"` is a mistake.
    value = config.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ValueError(f"Files: config key {key!r}: expected {what}, got {value!r}")
    return value


def sanitize_client(client: str) -> str:
    """``COMPUTER$@REALM`` → ``COMPUTER@REALM``; anything outside ``[A-Za-z0-9._@-]`` dropped."""
    cleaned = _CLIENT_ALLOWED.sub("", client)[:255]
    # "." and ".." alone would be directory names with a meaning; never produce them.
    return cleaned if cleaned.strip(".") else "_"


def _ip_prefix(ip: str, n: int) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return sanitize_client(ip)
    # N is clamped to 1..4 (IPv4) or 1..8 (IPv6): {ip:0} must not yield an empty path
    # component, which would turn "{ip:0}/messages" into the absolute "/messages".
    n = max(n, 1)
    if addr.version == 4:
        return ".".join(str(addr).split(".")[: min(n, 4)])
    return ":".join(addr.exploded.split(":")[: min(n, 8)])


def render_path(template: str, *, ip: str, client: str, node: str | None) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "ip":
            return _ip_prefix(ip, 8)
        if name.startswith("ip:"):
            return _ip_prefix(ip, int(name[3:]))
        if name in ("client", "principal"):
            return sanitize_client(client)
        return sanitize_client(node) if node else "{node}"

    return _VARIABLE.sub(sub, template)


@dataclass
class FilesDriver:
    path: str
    fsync: bool = True
    escape_newlines: bool = True
    node: str | None = None
    # The process's shared handles (from the DriverContext), or handles of this driver alone.
    handles: FileHandles = field(default_factory=FileHandles)
    owns_handles: bool = False  # True: nobody shares them, close() closes them

    @staticmethod
    def upgrade_config(config: Mapping[str, Any]) -> dict[str, Any]:
        """OpenWEC's pre-0.2 keys (``base``, ``split_on_addr_index``, ``append_node_name``,
        ``filename``) become the equivalent ``path``; like OpenWEC, an explicit ``path`` wins."""
        rest = {k: v for k, v in config.items() if k not in _LEGACY_KEYS}
        if config.get("path") is not None:
            return rest
        split = _legacy(config, "split_on_addr_index", int, "an integer")
        if split is not None and not 0 <= split <= 255:
            raise ValueError(f"Files: config key 'split_on_addr_index': {split} is out of range (0..255)")
        rest["path"] = files_legacy_path(
            _legacy(config, "base", str, "a string"),
            split,
            _legacy(config, "append_node_name", bool, "true or false"),
            _legacy(config, "filename", str, "a string"),
        )
        return rest

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: Any = None) -> FilesDriver:
        # Typed reading: `fsync = "false"` must be an error, not a truthy string.
        reader = ConfigReader("Files", config)
        reader.check_keys(_KNOWN_KEYS)
        path = reader.required_string("path")
        fsync = reader.boolean("fsync", True)
        escape_newlines = reader.boolean("escape_newlines", True)
        base = getattr(context, "base_dir", None)
        if base and not os.path.isabs(path):
            path = os.path.join(base, path)
        node = getattr(context, "node_name", None)
        shared = getattr(context, "file_handles", None)
        if node is None and "{node}" in path:
            log.warning("Files path %s uses {node} but server.node_name is not set", path)
        return cls(
            path=path,
            fsync=fsync,
            escape_newlines=escape_newlines,
            node=node,
            handles=shared if shared is not None else FileHandles(),
            owns_handles=shared is None,
        )

    def _payload(self, records: tuple[bytes, ...]) -> bytes:
        if self.escape_newlines:
            # Most batches have no line end inside any record (the JSON formats escape them,
            # Raw events hold one only in a rendered message): two C-level searches over
            # the whole batch, rather than two per record, tell so.
            flat = b"".join(records)
            if b"\n" not in flat and b"\r" not in flat:
                return b"\n".join((*records, b""))
            records = tuple(
                r.replace(b"\r", b"&#13;").replace(b"\n", b"&#10;") if (b"\n" in r or b"\r" in r) else r
                for r in records
            )
        return b"\n".join(records) + b"\n"

    def write(self, batch: OutputBatch) -> None:
        if not batch.records:
            return
        meta = batch.meta
        path = render_path(self.path, ip=meta.ip, client=meta.principal, node=self.node)
        data = self._payload(batch.records)
        try:
            self._append(path, data)
        except OSError as err:
            # A broken handle (disk full, file removed under us) is reopened on the next batch.
            self.handles.drop(path)
            raise OutputError(f"Files output {path}: {err}") from err

    def _append(self, path: str, data: bytes) -> None:
        # Only a write that opens the file can create it or its directories (whose entries
        # must then be synced too): an open handle spares the stat() calls of every batch.
        # Should the handle be closed in between, the file was there a moment ago.
        created = _missing(path) if self.fsync and not self.handles.is_open(path) else []
        # Another thread may close the shared handle between get() and taking its lock
        # (idle close, SIGHUP reopen); then get() opens a fresh one. Bounded: a second
        # closure in that tiny window is as unlikely as it is harmless (OutputError, 503).
        for _ in range(3):
            handle = self.handles.get(path)
            with handle.lock:
                if handle.fh.closed:
                    continue
                fd = handle.fh.fileno()
                torn = path in self.handles.torn
                start = os.fstat(fd).st_size  # not tell(): another process may append too
                view = memoryview(b"\n" + data if torn else data)
                try:
                    while view:  # unbuffered file: write() may be partial
                        written = handle.fh.write(view)
                        if not written:
                            raise OSError("write returned 0")
                        view = view[written:]
                except OSError:
                    if len(view) < len(data) + torn and not _cut_back(fd, start, path):
                        self.handles.torn.add(path)  # a line is cut and stays so
                    raise
                self.handles.torn.discard(path)
                if not self.fsync:
                    return
                handle.written += 1
                ticket = handle.written
                # Our own descriptor of the same file: the handle may be closed (idle, SIGHUP)
                # before the sync, and its number reused by another open file.
                sync_fd = os.dup(fd)
            try:
                _group_sync(handle, ticket, sync_fd)
            finally:
                os.close(sync_fd)
            for parent in {os.path.dirname(p) or "." for p in created}:
                _sync_directory(parent)
            return
        raise OSError("file handle closed repeatedly while writing")

    def reopen(self) -> None:
        self.handles.close_all()

    def close(self) -> None:
        """Shared handles stay open: they belong to whoever put them in the context (wecd's
        Daemon). Handles made for this driver alone are closed with it."""
        if self.owns_handles:
            self.handles.close_all()


def _missing(path: str) -> list[str]:
    """The file and its directories that do not exist yet (to be created by the write)."""
    missing: list[str] = []
    while path and not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _cut_back(fd: int, size: int, path: str) -> bool:
    """Truncate a file a write failed in back to ``size`` (the end of its last whole line)."""
    try:
        os.ftruncate(fd, size)
    except OSError as err:
        log.error("Files output %s: cannot remove a partly written batch: %s", path, err)
        return False
    return True


def _group_sync(handle: Any, ticket: int, fd: int) -> None:
    """Make batch number ``ticket`` of ``handle`` durable, sharing the fdatasync of batches
    written meanwhile: the thread holding ``sync_lock`` syncs everything written before it
    started; the others wait for it and only sync again if their batch came later."""
    if handle.synced >= ticket:
        return
    with handle.sync_lock:
        if handle.synced < 0:
            # An earlier fdatasync of this file failed. Linux may then mark the pages clean,
            # so a second fdatasync would succeed without the data being on disk.
            raise OSError("an earlier sync of this file failed; reopening it")
        if handle.synced >= ticket:
            return
        covered = handle.written  # every batch counted here is already in the page cache
        try:
            os.fdatasync(fd)
        except OSError as err:
            if err.errno != errno.EINVAL:
                handle.synced = -1  # the writer drops this handle; nobody may trust it again
                raise
            # A pipe or a character device (a FIFO read by another program, /dev/stdout):
            # nothing of it lives on a disk, so there is nothing to sync.
        handle.synced = covered


def _sync_directory(path: str) -> None:
    # A new file (or directory) is only durable once the directory entry naming it is.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
