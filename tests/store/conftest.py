# SPDX-License-Identifier: GPL-3.0-or-later
"""A real, initialised SQLite database file per test, and subscriptions to put in it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wec.model import OutputConfig, Subscription
from wec.store.sqlite import SQLiteStore

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'

_counter = itertools.count(1)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "wec.sqlite")


@pytest.fixture
def store(db_path: str) -> Iterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    s.init()
    yield s
    s.close()


@pytest.fixture
def make_sub() -> Callable[..., Subscription]:
    def make(**overrides: Any) -> Subscription:
        n = next(_counter)
        fields: dict[str, Any] = {
            "uuid": Subscription.new_uuid(),
            "name": f"sub-{n}",
            "query": QUERY,
            "outputs": (OutputConfig("Files", "Json", {"path": f"/tmp/wec/{n}/{{ip}}"}),),
        }
        fields.update(overrides)
        return Subscription(**fields)

    return make
