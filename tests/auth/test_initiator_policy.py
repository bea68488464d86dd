# SPDX-License-Identifier: GPL-3.0-or-later
"""Who the acceptor lets in: computer accounts only (when asked), never anonymous tickets,
and only the SPNs of the collector's hostname when no SPN is configured."""

from __future__ import annotations

import gssapi
import pytest

from tests.auth.gss_client import authorization, initiate
from tests.support.kdc import Kdc
from wec.auth import AuthError, KerberosAcceptor
from wec.auth.kerberos import check_initiator

F = gssapi.RequirementFlag
WINDOWS = {F.mutual_authentication, F.confidentiality, F.integrity}


def test_a_users_ticket_is_refused_when_only_machine_accounts_are_accepted(kdc: Kdc) -> None:
    kdc.add_client("alice")
    strict = KerberosAcceptor(str(kdc.service_keytab), None, machine_accounts_only=True)
    _, token = initiate(kdc, client="alice@WEC.TEST")
    with pytest.raises(AuthError, match=r"alice@WEC\.TEST is not a computer account"):
        strict.accept(authorization("Kerberos", token))
    _, token = initiate(kdc)  # WIN10$@WEC.TEST
    assert strict.accept(authorization("Kerberos", token)).session.principal == "WIN10$@WEC.TEST"
    # Off (OpenWEC's behaviour): the user gets in.
    lax = KerberosAcceptor(str(kdc.service_keytab), None)
    _, token = initiate(kdc, client="alice@WEC.TEST")
    assert lax.accept(authorization("Kerberos", token)).session.principal == "alice@WEC.TEST"


def test_only_the_hostnames_spns_are_accepted_without_a_configured_spn(kdc: Kdc) -> None:
    acceptor = KerberosAcceptor(str(kdc.service_keytab), None, hostnames=("WEC.test.local",))
    for service in ("HTTP", "HOST"):
        _, token = initiate(kdc, target=f"{service}@wec.test.local")
        assert acceptor.accept(authorization("Kerberos", token)).session.principal == "WIN10$@WEC.TEST"
    other = KerberosAcceptor(str(kdc.service_keytab), None, hostnames=("collector.elsewhere",))
    _, token = initiate(kdc)
    with pytest.raises(AuthError, match="not for an SPN of this collector's hostname"):
        other.accept(authorization("Kerberos", token))


# Anonymous PKINIT (RFC 8062) needs a KDC certificate that the throwaway test KDC does not
# have, so an anonymous ticket cannot be obtained for real: the check the acceptor runs on
# every completed context is exercised here with the values MIT reports for one.
@pytest.mark.parametrize(
    ("principal", "flags"),
    [
        ("WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", WINDOWS | {F.anonymity}),
        ("WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS", WINDOWS),  # the name alone is enough
        ("wellknown/anonymous@WEC.TEST", WINDOWS),  # realm-specific anonymous, any case
        ("WIN10$@WEC.TEST", WINDOWS | {F.anonymity}),  # the flag alone is enough
    ],
)
def test_anonymous_initiators_are_refused(principal: str, flags: set[gssapi.RequirementFlag]) -> None:
    for machine_only in (False, True):
        with pytest.raises(AuthError, match="anonymous ticket refused"):
            check_initiator(principal, flags, machine_accounts_only=machine_only)


def test_named_initiators_pass_the_check() -> None:
    check_initiator("WIN10$@WEC.TEST", WINDOWS, machine_accounts_only=True)
    check_initiator("alice@WEC.TEST", WINDOWS, machine_accounts_only=False)
    with pytest.raises(AuthError, match="not a computer account"):
        check_initiator("HTTP/wec.test.local@WEC.TEST", WINDOWS, machine_accounts_only=True)
