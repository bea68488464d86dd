# SPDX-License-Identifier: GPL-3.0-or-later
"""How the CLI prints: tables for people, JSON for scripts.

* On a terminal, tables and messages go through ``rich`` (colour, box-less aligned columns).
* Otherwise (a pipe, a file, the tests) the same tables are plain text aligned with spaces,
  with no escape codes, so that ``grep``/``awk`` work and output is stable.
* ``--format json`` prints one JSON document (``orjson``), times in RFC 3339 UTC.

Times for people are relative ("3 min ago"), with the absolute time in JSON.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["Cell", "Out", "Table", "iso", "relative_time"]

# Styles of well-known values (rich markup style names).
STYLES = {
    "Active": "green",
    "Alive": "yellow",
    "Dead": "red",
    "enabled": "green",
    "disabled": "dim",
    "never": "dim",
}


def relative_time(when: datetime | None, now: datetime) -> str:
    """``"12 s ago"``, ``"3 min ago"``, ``"5 h ago"``, ``"2 days ago"`` (or ``"in …"``)."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    future = seconds < 0
    s = abs(seconds)
    if s < 1:
        return "just now"
    if s < 90:
        text = f"{int(s)} s"
    elif s < 90 * 60:
        text = f"{int(s // 60)} min"
    elif s < 36 * 3600:
        text = f"{int(s // 3600)} h"
    else:
        days = int(s // 86400)
        text = f"{days} day" + ("s" if days != 1 else "")
    return f"in {text}" if future else f"{text} ago"


def iso(when: datetime | None) -> str | None:
    """RFC 3339 UTC with microseconds, e.g. ``2025-01-01T00:00:00.000000Z``."""
    if when is None:
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Cell:
    text: str
    style: str | None = None


@dataclass
class Table:
    columns: Sequence[str]
    rows: list[Sequence[str | Cell]] = field(default_factory=list)
    title: str | None = None

    def add(self, *values: str | Cell) -> None:
        self.rows.append(values)


def _text(value: str | Cell) -> str:
    return value.text if isinstance(value, Cell) else value


class Out:
    """Where the CLI writes; decides once whether it talks to a person (a terminal)."""

    def __init__(self, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.rich = _isatty(self.stdout)
        self._console: Any = None
        self._err_console: Any = None

    def _rich(self, err: bool = False) -> Any:
        from rich.console import Console

        if err:
            if self._err_console is None:
                self._err_console = Console(file=self.stderr, highlight=False, soft_wrap=True)
            return self._err_console
        if self._console is None:
            self._console = Console(file=self.stdout, highlight=False, soft_wrap=True)
        return self._console

    # -- plain lines -------------------------------------------------------------------------
    def line(self, text: str = "", style: str | None = None) -> None:
        if self.rich and style:
            from rich.text import Text

            self._rich().print(Text(text, style=style))
        else:
            print(text, file=self.stdout)

    def raw(self, text: str) -> None:
        """Text printed verbatim (a file's content), never styled."""
        self.stdout.write(text)
        self.stdout.flush()

    def note(self, text: str) -> None:
        """Progress/confirmation for people: stderr, so stdout stays machine-readable."""
        self._to_err(text, None)

    def warn(self, text: str) -> None:
        self._to_err(f"warning: {text}", "yellow")

    def error(self, text: str) -> None:
        self._to_err(f"wec: {text}", "bold red")

    def _to_err(self, text: str, style: str | None) -> None:
        if _isatty(self.stderr) and style:
            from rich.text import Text

            self._rich(err=True).print(Text(text, style=style))
        else:
            print(text, file=self.stderr)

    def json(self, value: Any) -> None:
        self.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
        self.stdout.flush()

    # -- tables ------------------------------------------------------------------------------
    def table(self, table: Table) -> None:
        if self.rich:
            self._rich_table(table)
            return
        if table.title:
            print(table.title, file=self.stdout)
        cells = [list(table.columns), *[[_text(v) for v in row] for row in table.rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
        for row in cells:
            line = "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            print(line, file=self.stdout)

    def _rich_table(self, table: Table) -> None:
        from rich import box
        from rich.table import Table as RichTable
        from rich.text import Text

        t = RichTable(title=table.title, box=box.SIMPLE_HEAD, title_justify="left", header_style="bold")
        for c in table.columns:
            t.add_column(c)
        for row in table.rows:
            t.add_row(
                *(
                    Text(v.text, style=v.style or STYLES.get(v.text, ""))
                    if isinstance(v, Cell)
                    else Text(v, style=STYLES.get(v, ""))
                    for v in row
                )
            )
        self._rich().print(t)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
