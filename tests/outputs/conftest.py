# SPDX-License-Identifier: GPL-3.0-or-later
"""Receivers for the driver tests, each started on a free loopback port and stopped by PID."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.receivers import (
    Receiver,
    Rsyslog,
    start_redis,
    start_rsyslog,
    start_secantus,
    start_tansu,
)
from wec.outputs.context import DriverContext


@pytest.fixture
def context() -> DriverContext:
    return DriverContext(node_name="wec-a", format_name="Json", logger=logging.getLogger("tests.outputs"))


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    r = start_rsyslog(tmp_path)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    r = start_secantus(tmp_path_factory.mktemp("secantus"))
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    r = start_tansu(tmp_path_factory.mktemp("tansu"))
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """A private redis-server (the fault tests stop it; the shared one on 6379 is not ours)."""
    r = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield r
    finally:
        r.stop()
