# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: the throwaway KDC and PostgreSQL cluster (one each per test session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kdc import Kdc, kdc_available, start_kdc
from tests.support.postgres import PgCluster, pg_bindir, start_cluster, stat_statements_options


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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster on a free loopback port; tests create their own databases.

    The only cluster of the session: tests that stop it on purpose (outages) start it again
    before they end. It counts statements (pg_stat_statements) where that module exists.

    Skipped only where no PostgreSQL server binaries exist (scripts/bootstrap.sh installs
    them); with WEC_REQUIRE_POSTGRES=1 (CI) their absence is an error instead.
    """
    bindir = pg_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, postgres) not found: run scripts/bootstrap.sh"
        if os.environ.get("WEC_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = start_cluster(bindir, options=stat_statements_options(bindir))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"
