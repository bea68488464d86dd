# SPDX-License-Identifier: GPL-3.0-or-later
"""Server and access logs from the ``[logging]`` settings; SIGHUP reopens file logs."""

from __future__ import annotations

import logging
import sys
from logging.handlers import WatchedFileHandler

from wec.config import LoggingSettings

__all__ = ["reopen_logs", "setup_logging"]

_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}
_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"
_handlers: list[logging.Handler] = []


def _handler(target: str) -> logging.Handler:
    if target == "stderr":
        return logging.StreamHandler(sys.stderr)
    if target == "stdout":
        return logging.StreamHandler(sys.stdout)
    # WatchedFileHandler reopens by itself when logrotate moves the file.
    return WatchedFileHandler(target, encoding="utf-8")


def setup_logging(settings: LoggingSettings, verbose: int = 0) -> None:
    level = _LEVELS[settings.verbosity.lower()]
    if verbose:
        level = min(level, logging.INFO if verbose == 1 else logging.DEBUG)
    root = logging.getLogger()
    for h in _handlers:
        root.removeHandler(h)
        logging.getLogger("wec.access").removeHandler(h)
        h.close()
    _handlers.clear()
    server = _handler(settings.server_logs)
    server.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(server)
    root.setLevel(level)
    _handlers.append(server)
    access = logging.getLogger("wec.access")
    access.propagate = False
    if settings.access_logs:
        h = _handler(settings.access_logs)
        h.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(h)
        access.setLevel(logging.INFO)
        _handlers.append(h)
    else:
        access.setLevel(logging.CRITICAL + 1)


def reopen_logs() -> None:
    for h in _handlers:
        if isinstance(h, WatchedFileHandler):
            h.acquire()
            try:
                h.close()
                h.stream = h._open()
            finally:
                h.release()
