# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading versioned migration scripts.

A backend's migrations are files ``NNNN_<name>.sql`` (up) and ``NNNN_<name>.down.sql`` (down)
in one directory, numbered from 1 without gaps. Scripts hold no transaction statements: the
runner applies each one inside its own transaction and records the version.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable

from wec.store.base import Migration, StoreError

__all__ = ["load_migrations", "postgres_migrations", "split_sql", "sqlite_migrations"]

_UP = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DOWN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.down\.sql$")


def load_migrations(files: Iterable[Traversable]) -> list[Migration]:
    """Pair up/down scripts and check the numbering is 1, 2, 3, … with no gap."""
    ups: dict[int, tuple[str, str]] = {}
    downs: dict[int, str] = {}
    for f in files:
        if (m := _DOWN.match(f.name)) is not None:
            downs[int(m.group(1))] = f.read_text(encoding="utf-8")
        elif (m := _UP.match(f.name)) is not None:
            version = int(m.group(1))
            if version in ups:
                raise StoreError(f"two migrations numbered {version}")
            ups[version] = (m.group(2), f.read_text(encoding="utf-8"))
    if sorted(ups) != list(range(1, len(ups) + 1)):
        raise StoreError(f"migration numbers must be 1..N without gaps, found {sorted(ups)}")
    if stray := set(downs) - set(ups):
        raise StoreError(f"down migrations without an up migration: {sorted(stray)}")
    return [Migration(v, ups[v][0], ups[v][1], downs.get(v)) for v in sorted(ups)]


def sqlite_migrations() -> list[Migration]:
    """The SQLite schema history shipped in ``wec/store/migrations/``."""
    directory = resources.files("wec.store").joinpath("migrations")
    return load_migrations(f for f in directory.iterdir() if f.is_file())


def postgres_migrations() -> list[Migration]:
    """The PostgreSQL schema history in ``wec/store/migrations/postgres/``.

    Same version numbers and meanings as :func:`sqlite_migrations`, so ``wec db status``
    reads the same on both backends.
    """
    directory = resources.files("wec.store").joinpath("migrations", "postgres")
    return load_migrations(f for f in directory.iterdir() if f.is_file())


def split_sql(script: str) -> list[str]:
    """Cut a script into complete statements (trigger bodies stay whole).

    ``sqlite3.Connection.executescript`` would commit any open transaction first, which would
    defeat running a migration and its version bump atomically; executing statement by
    statement keeps them inside our transaction.
    """
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    rest = "\n".join(ln for ln in buf.splitlines() if ln.strip() and not ln.strip().startswith("--")).strip()
    if rest:
        raise StoreError(f"incomplete SQL statement at the end of a migration: {rest[:80]!r}")
    return statements
