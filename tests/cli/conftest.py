# SPDX-License-Identifier: GPL-3.0-or-later
"""The CLI against a real SQLite database: settings in tmp_path, ``wec.cli.main.main`` in-process.

``cli("subscriptions", "show", "x")`` returns a :class:`Result` with the exit code and what was
printed on stdout and stderr (not a terminal, so plain text without escape codes).
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wec.cli.main import main
from wec.store.sqlite import SQLiteStore

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def settings_text(db: Path, *, read_only: bool = False) -> str:
    return textwrap.dedent(f"""\
        [server]
        db_sync_interval = 2

        [database]
        type = "SQLite"
        path = "{db}"

        [[collectors]]
        listen_address = "127.0.0.1"

        [collectors.authentication]
        type = "Kerberos"
        service_principal_name = "HTTP/wec.test.local@WEC.TEST"

        [cli]
        read_only_subscriptions = {"true" if read_only else "false"}
        """)


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.db = tmp_path / "wec.sqlite"
        self.config = tmp_path / "wec.toml"
        self.config.write_text(settings_text(self.db))

    def __call__(self, *args: str, stdin: str = "") -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = main(["-c", str(self.config), *args], stdout=out, stderr=err, stdin=io.StringIO(stdin))
        return Result(code, out.getvalue(), err.getvalue())

    def ok(self, *args: str) -> Result:
        r = self(*args)
        assert r.code == 0, f"wec {' '.join(args)} -> {r.code}\n{r.out}\n{r.err}"
        return r

    def read_only(self, on: bool = True) -> None:
        self.config.write_text(settings_text(self.db, read_only=on))

    def store(self) -> SQLiteStore:
        return SQLiteStore(str(self.db))

    def write(self, name: str, text: str) -> Path:
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    c = Cli(tmp_path)
    c.ok("db", "init")
    yield c


def subscription_file(
    name: str = "security",
    uuid: str = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
    *,
    options: str = "",
    extra: str = "",
    query: str = QUERY,
    path: str = "/var/log/wec/{ip}/{client}/messages",
) -> str:
    return (
        f"uuid = \"{uuid}\"\nname = \"{name}\"\nquery = '''{query}'''\n\n[options]\n{options}\n{extra}\n"
        f'[[outputs]]\ndriver = "Files"\nformat = "Json"\nconfig = {{ path = "{path}" }}\n'
    )


@pytest.fixture
def data() -> Path:
    return Path(__file__).parent / "data"


Factory = Callable[..., str]
