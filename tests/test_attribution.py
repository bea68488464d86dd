# SPDX-License-Identifier: GPL-3.0-or-later
"""{client} ownership, the Computer check of a batch and the log rate limiter (wec.attribution)."""

from __future__ import annotations

from wec.attribution import ClientClaims, RateLimiter, check_computers, vouched_host
from wec.outputs.files import sanitize_client


def test_the_first_to_claim_a_rendering_owns_it() -> None:
    claims = ClientClaims(sanitize_client)
    assert claims.rival("WIN10@CORP") is None  # nobody owns it yet, and asking claims nothing
    assert claims.claim("WIN10é$@CORP") is None
    assert claims.claim("WIN10$@CORP") == "WIN10é$@CORP"
    assert claims.rival("WIN10@CORP") == "WIN10é$@CORP"
    assert claims.rival("WIN10é$@CORP") is None
    assert claims.claim("WIN11$@CORP") is None


def test_seeded_owners_come_first() -> None:
    claims = ClientClaims(sanitize_client)
    assert claims.seed(["WIN10$@CORP", "WIN10@CORP", "SRV$@CORP"]) == 2
    assert claims.claim("WIN10@CORP") == "WIN10$@CORP"


def test_the_rate_limiter_counts_what_it_held_back() -> None:
    limiter = RateLimiter(60.0)
    assert limiter.allow(("s", "a"), now=0.0) == 0
    assert limiter.allow(("s", "a"), now=1.0) is None
    assert limiter.allow(("s", "a"), now=2.0) is None
    assert limiter.allow(("s", "b"), now=2.0) == 0  # another source has its own budget
    assert limiter.allow(("s", "a"), now=61.0) == 2


def test_check_computers_lists_the_mismatches() -> None:
    def ev(computer: str) -> str:
        return f"<Event><System><Computer>{computer}</Computer></System></Event>"

    host, netbios = vouched_host("WIN10$@CORP", "http")
    assert (host, netbios) == ("WIN10", True)
    check = check_computers([ev("win10.corp"), ev("DC01"), ev("WIN10"), "<Event/>"], host, netbios)
    assert check.mismatched == (1, 3)
    assert check.sample == "DC01"
    assert vouched_host("win10.corp.example", "https") == ("win10.corp.example", False)
