# SPDX-License-Identifier: GPL-3.0-or-later
"""What every CLI verb shares: the settings, the store, the printer, errors and confirmations.

Exit codes (docs/cli.md): 0 success, 1 the operation failed (unknown subscription, database
error, refused confirmation), 2 bad usage or settings (including ``read_only_subscriptions``),
3 the database schema is not the one this wec needs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from wec.cli.render import Out
from wec.config import Settings
from wec.model import Subscription
from wec.store.base import Store

__all__ = ["EXIT_FAILED", "EXIT_SCHEMA", "EXIT_USAGE", "CliError", "Context", "parse_when"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SCHEMA = 3


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def parse_when(text: str) -> datetime:
    """``--at``: an ISO 8601 time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--at {text!r} is not an ISO 8601 time (e.g. 2025-01-31T08:00:00Z)", 2) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class Context:
    settings: Settings | None
    out: Out
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        """The database, opened on first use and checked against this wec's schema."""
        if self._store is None:
            self._store = self.open_store(check=True)
        return self._store

    def open_store(self, *, check: bool) -> Store:
        from wec.store import open_store

        if self.settings is None:  # pragma: no cover - verbs that need it always load settings
            raise CliError("no settings", EXIT_USAGE)
        try:
            store = open_store(self.settings.database)
        except ValueError as err:
            raise CliError(f"[database]: {err}", EXIT_USAGE) from err
        if check:
            try:
                store.check_schema()
            except BaseException:
                store.close()
                raise
        return store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- helpers -----------------------------------------------------------------------------
    def subscription(self, ident: str) -> Subscription:
        sub = self.store.get_subscription(ident)
        if sub is None:
            raise CliError(f"no subscription with uuid or name {ident!r} (see `wec subscriptions`)")
        return sub

    def subscriptions(self, idents: list[str], all_: bool) -> list[Subscription]:
        if all_ and idents:
            raise CliError("give subscriptions or --all, not both", EXIT_USAGE)
        if all_:
            return self.store.list_subscriptions()
        if not idents:
            raise CliError("name at least one subscription (or --all)", EXIT_USAGE)
        return [self.subscription(i) for i in idents]

    def require_writable(self, verb: str) -> None:
        """``[cli] read_only_subscriptions``: subscriptions change only through files."""
        if self.settings is not None and self.settings.cli.read_only_subscriptions:
            raise CliError(
                f"`{verb}` is disabled by [cli] read_only_subscriptions = true: edit the subscription "
                "files and run `wec subscriptions load` instead",
                EXIT_USAGE,
            )

    def confirm(self, question: str, assume_yes: bool) -> bool:
        if assume_yes:
            return True
        if not _isatty(self.stdin):
            raise CliError(f"{question} — not asking without a terminal: add --yes to confirm", EXIT_USAGE)
        self.out.stderr.write(f"{question} [y/N] ")
        self.out.stderr.flush()
        answer = self.stdin.readline()
        return answer.strip().lower() in ("y", "yes")


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
