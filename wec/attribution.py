# SPDX-License-Identifier: GPL-3.0-or-later
"""Which source wrote what: ``{client}`` path claims and the ``System/Computer`` check.

Theory of operation (docs/security.md, "Attribution").

* **Claims.** The Files ``{client}`` variable keeps only ``[A-Za-z0-9._@-]`` of a principal
  (OpenWEC's rule, kept for compatible paths), so ``WIN10$@CORP``, the user ``WIN10@CORP``
  and ``WIN10é$@CORP`` all render ``WIN10@CORP``: three sources, one file. The first
  principal to deliver events with a rendering owns it; another principal with the same
  rendering is refused, whatever it sends. The owners are seeded at start from the stored
  bookmarks (the sources that already delivered), so a restart does not hand a rendering to
  whoever comes first. The map lives in one process: with ``worker_processes`` > 1 two
  workers could each admit one of two new colliding principals before either stored a
  bookmark.
* **Computer.** An authenticated machine can write any ``Computer`` in its events; with a
  subscription's ``computer_mismatch`` other than ``accept`` each event's ``Computer`` (found
  by :func:`wec.principals.find_computer`, without parsing) is compared with the host the
  identity vouches for (Kerberos ``HOST$@REALM`` → ``HOST``, a TLS certificate CN → itself).
* **Rate-limited log.** One line per (subscription, principal) and interval, saying how many
  were suppressed, so that a misbehaving source cannot flood the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wec.principals import computer_matches, find_computer, parse_principal

__all__ = ["ClientClaims", "ComputerCheck", "RateLimiter", "check_computers", "vouched_host"]


class ClientClaims:
    """The owner of each ``{client}`` rendering; ``render`` is the Files driver's rule."""

    def __init__(self, render: Callable[[str], str]) -> None:
        self._render = render
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()

    def seed(self, principals: Iterable[str]) -> int:
        """Record known owners (first one wins, in order); returns how many renderings are owned."""
        with self._lock:
            for p in principals:
                self._owners.setdefault(self._render(p), p)
            return len(self._owners)

    def rival(self, principal: str) -> str | None:
        """The other principal that owns ``principal``'s rendering, or None (claims nothing)."""
        owner = self._owners.get(self._render(principal))
        return None if owner is None or owner == principal else owner

    def claim(self, principal: str) -> str | None:
        """None if ``principal`` owns (now or already) its rendering, else the owner."""
        key = self._render(principal)
        owner = self._owners.get(key)  # the fast path: a dict read is atomic
        if owner is None:
            with self._lock:
                owner = self._owners.setdefault(key, principal)
        return None if owner == principal else owner


class RateLimiter:
    """At most one event per key and ``interval`` seconds; counts what it held back."""

    MAX_KEYS = 4096  # then forget everything: a bound, not an exact memory

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[tuple[str, ...], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, key: tuple[str, ...], now: float | None = None) -> int | None:
        """The number suppressed since the last allowed one, or None to stay quiet now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                return None
            if len(self._last) >= self.MAX_KEYS:
                self._last.clear()
            self._last[key] = (now, 0)
            return last[1] if last is not None else 0


def vouched_host(principal: str, scheme: str) -> tuple[str, bool]:
    """The host an identity vouches for, and whether it is a NetBIOS name (Kerberos).

    Kerberos ``WIN10$@CORP`` → ``("WIN10", True)``; a TLS CN ``win10.corp.example`` → itself.
    """
    if scheme == "https":
        return principal, False
    account = parse_principal(principal).account
    return account.removesuffix("$"), True


@dataclass(frozen=True)
class ComputerCheck:
    """The events of one batch that do not name the authenticated host."""

    mismatched: tuple[int, ...]  # indices into the batch
    sample: str | None  # the first mismatching Computer (None: not found or not verifiable)


def check_computers(events: Sequence[str], host: str, netbios: bool) -> ComputerCheck:
    mismatched: list[int] = []
    sample: str | None = None
    for i, event in enumerate(events):
        computer = find_computer(event)
        if computer is None or not computer_matches(computer, host, netbios=netbios):
            if not mismatched:
                sample = computer
            mismatched.append(i)
    return ComputerCheck(tuple(mismatched), sample)
