# SPDX-License-Identifier: GPL-3.0-or-later
"""File permissions of what wec creates, and the checks ``wecd --check`` reports.

The state database holds output settings with credentials, and the Files outputs hold Security
logs: neither may be readable by every local user. ``wecd`` and ``wec`` therefore start with a
restrictive umask (:data:`DEFAULT_UMASK`: new output files 0640, directories 0750, so a log
shipper in the service's group can read them), and the state database is created 0600 in any
case, whatever the umask (docs/security.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["DEFAULT_UMASK", "apply_umask", "create_private_file", "unsafe_permissions"]

DEFAULT_UMASK = 0o027


def apply_umask(mask: int = DEFAULT_UMASK) -> int:
    """Set the process umask; returns the previous one."""
    return os.umask(mask)


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (and a missing parent, 0700) owner-only if it does not exist yet."""
    p = Path(path)
    if p.exists():
        return
    if not p.parent.exists():
        p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def unsafe_permissions(path: str | os.PathLike[str], *, secret: bool) -> str | None:
    """Why ``path`` is unsafely exposed, or None. ``secret``: no group/other read either."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWOTH:
        return f"{path} is writable by every user (mode {mode:04o})"
    if secret and mode & (stat.S_IROTH | stat.S_IWGRP):
        return f"{path} is readable by every user or writable by its group (mode {mode:04o}); use 0600"
    if secret and mode & stat.S_IRGRP:
        return f"{path} is readable by its group (mode {mode:04o}); use 0600 unless the group is wec's"
    if not secret and mode & stat.S_IWGRP:
        return f"{path} is writable by its group (mode {mode:04o})"
    return None
