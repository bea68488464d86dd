# SPDX-License-Identifier: GPL-3.0-or-later
"""Properties: parse_event never raises, whatever the text; every format gives bytes (valid JSON
for the JSON formats) or None; a malformed event keeps its original text."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.formats.factory import META, generated_events
from wec.formats import FORMAT_NAMES, get_format
from wec.formats.event_xml import ParsedEvent, parse_event

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_JSON_FORMATS = ("RawJson", "Json", "Nxlog")
_SEEDS = generated_events(5)


def _check_all_formats(raw: str, parsed: ParsedEvent) -> None:
    for name in FORMAT_NAMES:
        out = get_format(name).format(raw, parsed, META)
        assert out is None or isinstance(out, bytes)
        if out is not None and name in _JSON_FORMATS:
            doc = json.loads(out)
            assert isinstance(doc, dict)
            if name != "RawJson" and parsed.error is not None:
                block = doc["OpenWEC"]["Error"]
                assert block["Type"] == str(parsed.error.type)


def _check(raw: str) -> None:
    parsed = parse_event(raw)
    assert isinstance(parsed, ParsedEvent)
    if parsed.error is not None:
        assert parsed.error.original_content == raw
    else:
        assert parsed.system is not None  # no error means Computer and EventID were found
    _check_all_formats(raw, parsed)


@_SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(raw: str) -> None:
    _check(raw)


@_SETTINGS
@given(
    st.sampled_from(_SEEDS),
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=0, max_value=40),
    st.text(max_size=12),
)
def test_damaged_real_looking_events_never_raise(seed: str, at: int, drop: int, insert: str) -> None:
    at %= len(seed) + 1
    _check(seed[:at] + insert + seed[at + drop :])


@_SETTINGS
@given(st.sampled_from(_SEEDS), st.integers(min_value=1, max_value=5000))
def test_truncated_events_are_written_with_their_full_text(seed: str, at: int) -> None:
    raw = seed[: at % len(seed)]
    parsed = parse_event(raw)
    assert parsed.error is not None
    assert parsed.error.original_content == raw
    _check_all_formats(raw, parsed)


_XMLISH = st.lists(
    st.sampled_from(
        [
            "<Event>",
            "</Event>",
            "<System>",
            "</System>",
            "<EventID>",
            "</EventID>",
            "<Computer>",
            "</Computer>",
            "<EventData>",
            "<Data Name='a'>",
            "</Data>",
            "<UserData>",
            "</UserData>",
            "<RenderingInfo",
            "<RenderingInfo>",
            "</RenderingInfo>",
            "<Keywords>",
            "<Execution ProcessID='1'/>",
            "<TimeCreated/>",
            "<![CDATA[",
            "]]>",
            "<!--",
            "-->",
            "&amp;",
            "&#0;",
            "&x;",
            "<!DOCTYPE a>",
            "4624",
            "host",
            "'",
            '"',
            ">",
            " ",
            "\ud800",
        ]
    ),
    max_size=30,
).map("".join)


@_SETTINGS
@given(_XMLISH)
def test_xml_like_token_soup_never_raises(raw: str) -> None:
    _check(raw)
