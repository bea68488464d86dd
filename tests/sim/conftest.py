# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the simulator tests: the real KDC (with a readable krb5.conf) and a fake collector."""

from __future__ import annotations

import re

import pytest

from tests.support.kdc import Kdc

# MIT's profile parser ignores a one-line "REALM = { kdc = host:port }" ("Cannot find KDC for
# realm"); tests/support/kdc.py writes that form. Rewrite it into the multi-line form; the
# rewrite is idempotent and becomes a no-op once the shared helper is fixed.
_ONE_LINE_REALM = re.compile(r"^(\s*)(\S+) = \{ kdc = (\S+) \}$", re.MULTILINE)


@pytest.fixture(scope="session")
def kdc(kdc: Kdc) -> Kdc:  # wraps tests/conftest.py's fixture
    text = kdc.krb5_conf.read_text()
    fixed = _ONE_LINE_REALM.sub(r"\1\2 = {\n\1    kdc = \3\n\1}", text)
    if fixed != text:
        kdc.krb5_conf.write_text(fixed)
    return kdc
