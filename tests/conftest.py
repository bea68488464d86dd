# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: the throwaway KDC (one per test session) and the vectors location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kdc import Kdc, kdc_available, start_kdc


@pytest.fixture(scope="session")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    """A real MIT KDC on loopback with HTTP/ and HOST/wec.test.local and client WIN10$.

    The process environment is pointed at it (KRB5_CONFIG) for the whole session, so that
    in-process acceptors and initiators find it.
    """
    if not kdc_available():
        pytest.skip("MIT KDC binaries (krb5-kdc, krb5-admin-server) are not installed")
    k = start_kdc(tmp_path_factory.mktemp("kdc"), clients=("WIN10$", "WIN11$", "SRV01$"))
    saved = {key: os.environ.get(key) for key in k.env}
    k.apply_env()
    try:
        yield k
    finally:
        k.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
