# SPDX-License-Identifier: GPL-3.0-or-later
"""Numba set-up shared by every kernel: where compiled machine code is cached.

Theory of operation. ``@njit(cache=True)`` picks its cache directory when the kernel is
*decorated* (module import), not when it is compiled. Numba's own choice is ``__pycache__``
beside the source, then a per-user directory; a service account that owns neither (package
installed read-only, ``HOME=/nonexistent``) makes numba raise at import. So this module decides
the directory before any kernel module is imported:

1. ``$NUMBA_CACHE_DIR`` when set (the operator's word wins);
2. numba's default when the package's ``__pycache__`` is writable (a developer checkout);
3. otherwise the first usable of ``$XDG_CACHE_HOME/wec/numba`` (``~/.cache/wec/numba``),
   ``/var/cache/wec/numba`` and ``<tmp>/wec-numba-<uid>``;
4. otherwise no on-disk cache at all (kernels compile in memory on every start).

"Usable" means: it exists or can be created, it is owned by us and it is not world-writable —
numba's cache index is a pickle, so a directory anyone can write to would let anyone run code
in the collector.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
from numba.core import config as _numba_config

__all__ = ["cache_dir", "choose_cache_dir", "configure_cache", "inlined", "inner", "kernel", "kernels"]

log = logging.getLogger("accel")

_PKG_DIR = Path(__file__).resolve().parent
_KERNELS: list[Any] = []  # every dispatcher, for configure_cache
_ENTRIES: list[Any] = []  # those called from Python
# None: numba's default locators (in-tree __pycache__); "": no on-disk cache; else a directory.
_cache_dir: str | None = None


def _usable_dir(path: Path) -> bool:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.stat()
    except OSError:
        return False
    # numba's cache index is a pickle: a directory that others may write is code they may run.
    private = not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or not private:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def _in_tree_writable() -> bool:
    pycache = _PKG_DIR / "__pycache__"
    target = pycache if pycache.is_dir() else _PKG_DIR
    return os.access(target, os.W_OK | os.X_OK)


def _fallback_dirs() -> list[Path]:
    xdg = os.environ.get("XDG_CACHE_HOME")
    home_cache = Path(xdg) if xdg else Path(os.path.expanduser("~")) / ".cache"
    return [
        home_cache / "wec" / "numba",
        Path("/var/cache/wec/numba"),
        Path(tempfile.gettempdir()) / f"wec-numba-{os.getuid()}",
    ]


def choose_cache_dir() -> str | None:
    """The directory the rules above pick now: a path, ``None`` (numba's default) or ``""`` (none)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return env
    if _in_tree_writable():
        return None
    for candidate in _fallback_dirs():
        if _usable_dir(candidate):
            return str(candidate)
    return ""


def _apply(path: str | None) -> None:
    global _cache_dir
    _cache_dir = path
    value = path or ""
    # Both: numba re-reads NUMBA_* variables before each compilation (config.reload_config) and
    # would otherwise overwrite an attribute set by hand.
    if value:
        os.environ["NUMBA_CACHE_DIR"] = value
    else:
        os.environ.pop("NUMBA_CACHE_DIR", None)
    setattr(_numba_config, "CACHE_DIR", value)  # noqa: B010 - untyped module attribute


def configure_cache(path: str | None = None) -> str | None:
    """Point the kernels' on-disk cache at ``path`` (created 0700 if needed), or re-run the
    automatic choice when ``path`` is None. Returns the directory now in use (``None`` = numba's
    in-tree default, ``""`` = no on-disk cache).

    Call it before :func:`accel.warm_up`: kernels already compiled in this process stay in
    memory and are not re-written to the new directory.
    """
    if path is None:
        chosen = choose_cache_dir()
    elif _usable_dir(Path(path)):
        chosen = str(Path(path))
    else:
        raise ValueError(f"numba cache directory {path!r} is not a private writable directory")
    _apply(chosen)
    for dispatcher in _KERNELS:
        _enable_cache(dispatcher)
    return chosen


def cache_dir() -> str | None:
    """The cache directory in use (see :func:`configure_cache` for the meaning of None and "")."""
    return _cache_dir


def _enable_cache(dispatcher: Any) -> None:
    try:
        dispatcher.enable_caching()
    except RuntimeError:
        # No locator accepted the source file: keep compiling in memory only.
        dispatcher._cache = numba.core.caching.NullCache()
        log.warning("accel: no writable numba cache directory; kernels compile on every start")


def _njit(fn: Callable[..., Any]) -> Any:
    try:
        dispatcher = numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:
        dispatcher = numba.njit(nogil=True)(fn)
        log.warning("accel: no writable numba cache directory; kernels compile on every start")
    _KERNELS.append(dispatcher)
    return dispatcher


def kernel(fn: Callable[..., Any]) -> Any:
    """``@njit(cache=True, nogil=True)`` for a kernel called from Python, registered so that
    :func:`configure_cache` can move its cache and :func:`accel.warm_up` can be checked.

    nogil: the collector decodes bodies in worker threads; the kernels touch no Python object.
    """
    dispatcher = _njit(fn)
    _ENTRIES.append(dispatcher)
    return dispatcher


def inner(fn: Callable[..., Any]) -> Any:
    """``@njit(cache=True, nogil=True)`` for a function only kernels call: it is compiled into
    (and cached with) each caller, so it never needs compiling on its own."""
    return _njit(fn)


def inlined(fn: Callable[..., Any]) -> Any:
    """``@njit(nogil=True, inline="always")``: a small piece of a hot loop, inlined into each
    caller by numba itself (measured 3-4% faster than leaving the call to LLVM) and cached with
    the callers."""
    return numba.njit(nogil=True, inline="always")(fn)


def kernels() -> list[Any]:
    """The kernel dispatchers Python calls (what :func:`accel.warm_up` must have compiled)."""
    return list(_ENTRIES)


_apply(choose_cache_dir())
