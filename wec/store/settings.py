# SPDX-License-Identifier: GPL-3.0-or-later
"""The typed ``[database]`` settings (docs/protocol.md §11.1) that :func:`wec.store.open_store` takes.

``wec.config`` builds this object from the settings file; the store never reads raw
configuration itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatabaseSettings"]


@dataclass(frozen=True)
class DatabaseSettings:
    """OpenWEC's ``[database]`` section, with OpenWEC's defaults."""

    type: str  # "SQLite" | "Postgres", spelled as in OpenWEC's settings file
    path: str | None = None  # SQLite: the database file
    host: str | None = None  # Postgres: the server
    port: int = 5432
    dbname: str | None = None
    user: str | None = None
    password: str | None = None
    ssl_mode: str = "Prefer"  # Disable | Prefer | Require
    ca_file: str | None = None
    max_chunk_size: int = 500  # Postgres: rows per multi-row INSERT when flushing heartbeats
