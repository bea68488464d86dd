# SPDX-License-Identifier: GPL-3.0-or-later
"""Canonical principals, machine accounts and the System/Computer scan (wec.principals)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wec.model import ClientFilter, FilterKind, FilterOperation
from wec.principals import (
    canonical_principal,
    computer_matches,
    find_computer,
    is_machine_account,
    parse_principal,
)

NS = "http://schemas.microsoft.com/win/2004/08/events/event"


@pytest.mark.parametrize(
    "spelling",
    [
        "WIN10$@CORP.EXAMPLE",
        "win10$@corp.example",
        "WIN10$\\@corp.example@CORP.EXAMPLE",  # enterprise name as GSSAPI displays it
        "WIN10$@corp.example@CORP.EXAMPLE",  # …and as an administrator may type it
        "Win10$\\@OTHER.SUFFIX@CORP.EXAMPLE",  # the realm that issued the ticket decides
    ],
)
def test_spellings_of_one_account_are_one_canonical_principal(spelling: str) -> None:
    assert canonical_principal(spelling) == "win10$@corp.example"


def test_other_accounts_stay_apart() -> None:
    assert canonical_principal("WIN10@CORP.EXAMPLE") != canonical_principal("WIN10$@CORP.EXAMPLE")
    assert canonical_principal("WIN10$@OTHER") != canonical_principal("WIN10$@CORP.EXAMPLE")


def test_machine_accounts() -> None:
    assert is_machine_account("WIN10$@CORP")
    assert is_machine_account("WIN10$\\@corp@CORP")
    assert not is_machine_account("WIN10@CORP")
    assert not is_machine_account("$@CORP")
    assert not is_machine_account("HTTP/x$@CORP")
    assert parse_principal("a\\/b@R").name == "a/b"


@pytest.mark.parametrize(
    ("target", "client"),
    [
        ("WIN10$@WEC.TEST", "win10$@WEC.TEST"),
        ("WIN10$@WEC.TEST", "WIN10$\\@wec.test.local@WEC.TEST"),
        ("win10$@wec.test", "WIN10$@WEC.TEST"),
    ],
)
def test_an_except_client_filter_cannot_be_dodged(target: str, client: str) -> None:
    f = ClientFilter(FilterOperation.EXCEPT, FilterKind.CLIENT, (target,))
    assert not f.allows(client, None)
    assert ClientFilter(FilterOperation.ONLY, FilterKind.CLIENT, (target,)).allows(client, None)


def test_glob_client_filters_are_canonical_too() -> None:
    f = ClientFilter(FilterOperation.EXCEPT, FilterKind.CLIENT, ("DC*$@WEC.TEST",), glob=True)
    assert not f.allows("dc01$@wec.test", None)
    assert f.allows("WIN10$@WEC.TEST", None)


def test_machine_id_filters_keep_their_flags() -> None:
    f = ClientFilter(FilterOperation.ONLY, FilterKind.MACHINE_ID, ("win10.corp",))
    assert f.allows("x", "win10.corp")
    assert not f.allows("x", "WIN10.corp")


def _event(system_tail: str) -> str:
    return (
        f"<Event xmlns='{NS}'><System><Provider Name='p'/><EventID>1</EventID>{system_tail}</System>"
        "<EventData><Data Name='Computer'>decoy</Data><Computer>decoy</Computer></EventData></Event>"
    )


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("<Computer>win10.corp.example</Computer>", "win10.corp.example"),
        ("<Computer> WIN10 </Computer>", "WIN10"),
        ("<e:Computer>WIN10</e:Computer>", "WIN10"),  # a prefix declared on Event
        ("<Computer xmlns='x'>WIN10</Computer>", None),  # another element: not believed
        ("", None),  # none: unverifiable
        ("<Computer>A</Computer><Computer>B</Computer>", None),  # two
        ("<!--<Computer>A</Computer>--><Computer>B</Computer>", None),  # a hidden decoy
        ("<!--x--><Computer>B</Computer>", None),  # any comment in System
        ("<Computer><![CDATA[A]]></Computer>", None),
        ("<Computer>&#87;IN10</Computer>", None),  # an entity the scan would not decode
        ("<Computer/>", None),
    ],
)
def test_find_computer(tail: str, expected: str | None) -> None:
    assert find_computer(_event(tail)) == expected


@pytest.mark.parametrize(
    "text",
    [
        # A decoy System before the real one: a reader takes Event/System, the second here.
        f"<Event xmlns='{NS}'><UserData><System><Computer>WIN10</Computer></System></UserData>"
        "<System><Computer>DC01</Computer></System></Event>",
        f"<Event xmlns='{NS}'><!--x--><System><Computer>WIN10</Computer></System></Event>",
        # A second System after the first.
        f"<Event xmlns='{NS}'><System><Computer>WIN10</Computer></System>"
        "<System><Computer>DC01</Computer></System></Event>",
    ],
)
def test_find_computer_refuses_decoy_systems(text: str) -> None:
    assert find_computer(text) is None


def test_find_computer_accepts_a_declaration_and_rendering_info() -> None:
    text = (
        f"<?xml version='1.0'?>\n<Event xmlns='{NS}'>\n  <System><Computer>WIN10</Computer></System>"
        "<RenderingInfo Culture='en-US'><Channel>System</Channel></RenderingInfo></Event>"
    )
    assert find_computer(text) == "WIN10"


def test_find_computer_without_system() -> None:
    assert find_computer("<Event><EventData/></Event>") is None
    assert find_computer("<Event><System><Computer>A</Computer>") is None  # never closed


@pytest.mark.parametrize(
    ("computer", "identity", "netbios", "expected"),
    [
        ("win10.corp.example", "WIN10", True, True),
        ("WIN10", "WIN10", True, True),
        ("WIN10.corp.example.", "win10.corp.example", False, True),
        ("win10", "win10.corp.example", False, True),
        ("dc01.corp.example", "WIN10", True, False),
        ("win10.other.example", "win10.corp.example", False, False),
        ("WIN10X.corp", "WIN10", True, False),
        # NetBIOS names stop at 15 characters; the DNS name goes on.
        ("workstation-0042.corp", "WORKSTATION-004", True, True),
        ("workstation-0042.corp", "WORKSTATION-004", False, False),
        ("", "WIN10", True, False),
    ],
)
def test_computer_matches(computer: str, identity: str, netbios: bool, expected: bool) -> None:
    assert computer_matches(computer, identity, netbios=netbios) is expected


@given(st.text(max_size=60))
def test_the_scan_never_raises(text: str) -> None:
    find_computer(text)
    canonical_principal(text)
    is_machine_account(text)
