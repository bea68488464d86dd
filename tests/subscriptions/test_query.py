# SPDX-License-Identifier: GPL-3.0-or-later
"""QueryList parsing: channels, field limits (docs/protocol.md §9), added channels (§7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wec.subscriptions.query import MAX_CHANNELS, MAX_CLAUSES, QueryError, added_channels, parse_query


def _q(*selects: str) -> str:
    return "<QueryList><Query Id='0'>" + "".join(selects) + "</Query></QueryList>"


def test_channels_come_from_select_suppress_and_the_query_path() -> None:
    text = """<QueryList>
      <!-- comments are fine -->
      <Query Id="0" Path="Security">
        <Select>*[System[(EventID=4624)]]</Select>
        <Suppress Path="System">*</Suppress>
      </Query>
      <Query Id="1"><Select Path="security">*</Select>
        <Select Path="Microsoft-Windows-Sysmon/Operational">*</Select></Query>
    </QueryList>"""
    info = parse_query(text)
    assert info.channels == ("Security", "System", "Microsoft-Windows-Sysmon/Operational")
    assert info.warnings == ()


def test_clauses_are_estimated_per_query() -> None:
    ids = " or ".join(f"EventID={i}" for i in range(10))
    info = parse_query(
        _q(f"<Select Path='Security'>*[System[({ids})]]</Select>", "<Select Path='System'>*</Select>")
    )
    assert info.clauses == (11,)


def test_more_than_22_clauses_in_a_query_warns() -> None:
    ids = " or ".join(f"EventID={i}" for i in range(MAX_CLAUSES + 1))
    (warning,) = parse_query(_q(f"<Select Path='Security'>*[System[({ids})]]</Select>")).warnings
    assert "split it into several <Query>" in warning
    assert (
        parse_query(_q(f"<Select Path='Security'>*[System[({ids.rsplit(' or ', 1)[0]})]]</Select>")).warnings
        == ()
    )


def test_more_than_256_channels_warns() -> None:
    many = _q(*(f"<Select Path='Channel-{i}'>*</Select>" for i in range(MAX_CHANNELS + 1)))
    warnings = parse_query(many).warnings
    assert any("257 channels" in w for w in warnings)
    exactly = _q(*(f"<Select Path='Channel-{i}'>*</Select>" for i in range(MAX_CHANNELS)))
    assert not any("channels" in w for w in parse_query(exactly).warnings)


def test_added_channels_ignores_case_and_removed_channels() -> None:
    old = _q("<Select Path='Security'>*</Select>", "<Select Path='System'>*</Select>")
    new = _q(
        "<Select Path='SECURITY'>*</Select>",
        "<Select Path='Application'>*</Select>",
        "<Suppress Path='Setup'>*</Suppress>",
    )
    assert added_channels(old, new) == {"Application", "Setup"}
    assert added_channels(new, old) == {"System"}
    assert added_channels(old, old) == set()
    assert added_channels("garbage", old) == {"Security", "System"}


def test_entities_and_doctype_are_refused() -> None:
    with pytest.raises(QueryError, match=r"DOCTYPE|well-formed"):
        parse_query(
            '<!DOCTYPE QueryList [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<QueryList><Query><Select Path="&x;">*</Select></Query></QueryList>'
        )


def test_a_namespaced_or_declared_query_is_accepted() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<QueryList xmlns="urn:x"><Query><Select Path="Security">*</Select></Query></QueryList>'
    )
    assert parse_query(text).channels == ("Security",)


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=200)
    | st.from_regex(
        r"<QueryList>(<Query( Path=\"[a-z]*\")?>"
        r"(<(Select|Suppress|X)( Path=\"[A-Za-z/]*\")?>\*</(Select|Suppress|X)>)*</Query>)*</QueryList>",
        fullmatch=True,
    )
)
def test_any_text_either_parses_or_raises_query_error(text: str) -> None:
    try:
        info = parse_query(text)
    except QueryError:
        return
    assert info.channels and all(c.strip() for c in info.channels)


def test_a_bare_xpath_is_told_to_be_wrapped_in_a_querylist() -> None:
    with pytest.raises(QueryError, match=r"must be a <QueryList>, not a bare XPath"):
        parse_query("*[System[(EventID=4624)]]")


def test_an_unescaped_less_than_in_an_xpath_suggests_lt() -> None:
    with pytest.raises(QueryError, match=r"not well-formed XML.*'&lt;'"):
        parse_query(_q("<Select Path='Security'>*[System[EventID<4700]]</Select>"))
    with pytest.raises(QueryError, match=r"'&amp;'"):
        parse_query(_q("<Select Path='Security'>*[System[EventID=1 && Level=2]]</Select>"))
    assert parse_query(_q("<Select Path='Security'>*[System[EventID&lt;4700]]</Select>")).channels == (
        "Security",
    )
