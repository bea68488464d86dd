# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the auth tests: the real KDC, our acceptor, and a Windows-like initiator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.gss_client import Handshake, handshake
from tests.support.kdc import Kdc, start_kdc
from wec.auth import KerberosAcceptor


@pytest.fixture(scope="session")
def acceptor(kdc: Kdc) -> KerberosAcceptor:
    """The collector's acceptor with default credentials (any principal of the keytab)."""
    return KerberosAcceptor(str(kdc.service_keytab), None)


@pytest.fixture
def krb(kdc: Kdc, acceptor: KerberosAcceptor) -> Handshake:
    """A completed raw-Kerberos handshake between WIN10$ and the collector (Windows' way)."""
    return handshake(kdc, acceptor, scheme="Kerberos")


@pytest.fixture(scope="session")
def foreign_kdc(tmp_path_factory: pytest.TempPathFactory, kdc: Kdc) -> Iterator[Kdc]:
    """A second KDC with the same realm and principal names but its own keys.

    Its tickets look right (HTTP/wec.test.local@WEC.TEST) but are sealed with a key our keytab
    does not hold, like a stale keytab after the AD account was re-keyed.
    """
    directory: Path = tmp_path_factory.mktemp("foreign-kdc")
    other = start_kdc(directory, clients=("WIN10$",))
    try:
        yield other
    finally:
        other.stop()
