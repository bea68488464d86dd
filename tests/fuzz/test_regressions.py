# SPDX-License-Identifier: GPL-3.0-or-later
"""Inputs that broke a parser once, or sit on one of its edges, kept so that they stay handled:
``tests/fuzz/regressions/<target>/<name>`` holds the raw bytes a target receives (an atheris
``crash-<sha1>`` file goes there as it is; a hypothesis failure's input too). Each file is run
through its target (tests/fuzz/targets.py) under the watchdog."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS, watchdog

ROOT = Path(__file__).parent / "regressions"
CASES = sorted(p for p in ROOT.glob("*/*") if p.is_file() and p.parent.name in TARGETS)


def test_every_case_names_a_known_target() -> None:
    assert CASES, "no regression inputs found"
    strays = [p for p in ROOT.glob("*/*") if p.is_file() and p.parent.name not in TARGETS]
    assert not strays, strays


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_regression_input(path: Path) -> None:
    with watchdog():
        TARGETS[path.parent.name](path.read_bytes())
