# SPDX-License-Identifier: GPL-3.0-or-later
"""Server and access logs from the ``[logging]`` settings; SIGHUP reopens file logs.

Every record is written as one line that starts with its own header: many values in messages
come from unauthenticated peers (request paths, machine IDs, SubscriptionEnd fields), and a
newline in one of them must not forge a record (docs/security.md). :class:`OneLineFormatter`
escapes control characters in the message and indents the continuation lines of tracebacks,
so a line that does not start with a timestamp is never a record of its own. It also masks
passwords of connection strings, whichever driver or library quoted them.
"""

from __future__ import annotations

import logging
import sys
from logging.handlers import WatchedFileHandler

from wec.config import LoggingSettings
from wec.sanitize import escape_controls, redact

__all__ = ["AccessLineFormatter", "OneLineFormatter", "reopen_logs", "setup_logging"]

_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}
_FORMAT = "%(asctime)s %(levelname)s %(name)s - %(message)s"
_handlers: list[logging.Handler] = []


class OneLineFormatter(logging.Formatter):
    """A formatter whose records cannot be split into forged lines by what they quote, and
    that masks the credentials of connection strings that a driver's error may quote."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        # Tracebacks (ours, but ending with an exception message that may quote a client) keep
        # their lines, each indented under the record that carries them.
        return text.replace("\n", "\n    ") if "\n" in text else text


class AccessLineFormatter(OneLineFormatter):
    """The access log's formatter: one line per request, controls escaped, no redaction.

    An access line is built by the transport from the peer's address, its principal, the
    request line and the status; no output setting can reach it, so the two regular
    expressions of :func:`~wec.sanitize.redact` (24 µs a line, measured) are not run on it.
    """

    def format(self, record: logging.LogRecord) -> str:
        return logging.Formatter.format(self, record)


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
    server.setFormatter(OneLineFormatter(_FORMAT))
    root.addHandler(server)
    root.setLevel(level)
    _handlers.append(server)
    access = logging.getLogger("wec.access")
    access.propagate = False
    if settings.access_logs:
        h = _handler(settings.access_logs)
        h.setFormatter(AccessLineFormatter("%(message)s"))
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
