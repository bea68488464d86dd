# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz invariants (docs/design.md §7, after h11): parse_message either returns a message or raises
RemoteProtocolError, never anything else; what we build always re-parses."""

from __future__ import annotations

import copy
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.protocol import envelopes as env
from wec.model import ContentFormat, Subscription
from wec.protocol import (
    End,
    Enumerate,
    EventsBatch,
    Heartbeat,
    KerberosPolicy,
    RemoteProtocolError,
    SubscriptionEnd,
    SubscriptionOffer,
    TlsPolicy,
    build_ack,
    build_enumerate_response,
    escape_invalid_xml_chars,
    parse_message,
    parse_xml,
    subscription_version,
)
from wec.protocol.xml import _ILLEGAL_XML_CHARS

MESSAGE_TYPES = (Enumerate, End, Heartbeat, EventsBatch, SubscriptionEnd)
VALID = env.all_valid_messages()
# Modest by default (shared CI cores); WEC_FUZZ_EXAMPLES=5000 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("WEC_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _parse_or_protocol_error(text: str) -> None:
    try:
        msg = parse_message(text, max_events=50)
    except RemoteProtocolError as err:
        assert err.status in (400, 413)
    else:
        assert isinstance(msg, MESSAGE_TYPES)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _parse_or_protocol_error(text)


@FUZZ
@given(st.text(alphabet="<>/=\"' &;![]CDATAsaw:xmlnsEnvelopeHeader-\x00\x04\ud800", max_size=300))
def test_markup_heavy_text(text: str) -> None:
    _parse_or_protocol_error(text)


_edit = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "duplicate"]),
    st.floats(min_value=0, max_value=1),
    st.integers(min_value=1, max_value=40),
    st.text(max_size=12),
)


@FUZZ
@given(st.sampled_from(VALID), st.lists(_edit, min_size=1, max_size=4))
def test_textually_mutated_valid_envelopes(base: str, edits: list[tuple[str, float, int, str]]) -> None:
    text = base
    for kind, where, length, insert in edits:
        i = int(where * len(text))
        if kind == "delete":
            text = text[:i] + text[i + length :]
        elif kind == "insert":
            text = text[:i] + insert + text[i:]
        elif kind == "replace":
            text = text[:i] + insert + text[i + len(insert) :]
        else:
            text = text[:i] + text[i : i + length] + text[i:]
    _parse_or_protocol_error(text)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_structurally_mutated_valid_envelopes(base: str, data: st.DataObject) -> None:
    # Well-formed documents with one element removed, emptied or retexted: reaches the
    # semantic checks (missing headers, bad identifiers) rather than the XML parser.
    root = parse_xml(base)
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        target = data.draw(st.sampled_from(elements))
        action = data.draw(st.sampled_from(["remove", "empty", "text", "unwrap"]))
        parent = target.getparent()
        if action == "remove" and parent is not None:
            parent.remove(target)
        elif action == "empty":
            target.clear()
        elif action == "text":
            target.text = data.draw(st.text(max_size=30).map(escape_invalid_xml_chars))
        elif action == "unwrap" and parent is not None:
            parent.replace(target, copy.deepcopy(target[0])) if len(target) else parent.remove(target)
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
    _parse_or_protocol_error(etree.tostring(root, encoding="unicode"))


@FUZZ
@given(st.text(max_size=200))
def test_escaped_text_never_holds_illegal_characters(text: str) -> None:
    escaped = escape_invalid_xml_chars(text)
    assert _ILLEGAL_XML_CHARS.search(escaped) is None
    if _ILLEGAL_XML_CHARS.search(text) is None:
        assert escaped == text


@FUZZ
@given(st.text(max_size=200))
def test_any_cdata_payload_comes_back_verbatim_or_escaped(payload: str) -> None:
    payload = payload.replace("]]>", "").replace("\r", "")  # CDATA cannot hold "]]>"; CR is normalised
    msg = parse_message(env.events_message([payload]))
    assert isinstance(msg, EventsBatch)
    assert msg.events == (escape_invalid_xml_chars(payload),)


_xml_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00\ufffe\uffff"), max_size=40
).filter(lambda s: _ILLEGAL_XML_CHARS.search(s) is None)


@FUZZ
@given(
    name=_xml_text.filter(bool),
    locale=st.none() | _xml_text,
    revision=st.none() | _xml_text,
    numbers=st.tuples(*(st.integers(min_value=1, max_value=10**9) for _ in range(5))),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    tls=st.booleans(),
)
def test_built_responses_always_reparse_and_carry_the_values(
    name: str,
    locale: str | None,
    revision: str | None,
    numbers: tuple[int, int, int, int, int],
    flags: tuple[bool, bool, bool],
    tls: bool,
) -> None:
    heartbeat, retries, retry_interval, max_time, max_elements = numbers
    read_existing, ignore_errors, rendered = flags
    sub = Subscription(
        uuid="9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
        name=name,
        query='<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>',
        heartbeat_interval=heartbeat,
        connection_retry_count=retries,
        connection_retry_interval=retry_interval,
        max_time=max_time,
        max_elements=max_elements,
        read_existing_events=read_existing,
        ignore_channel_error=ignore_errors,
        content_format=ContentFormat.RENDERED_TEXT if rendered else ContentFormat.RAW,
        locale=locale,
        revision=revision,
    )
    offer = SubscriptionOffer(
        sub,
        subscription_version(sub),
        "https://wec.corp.example:5986/wsman/subscriptions/9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
        None,
        TlsPolicy(("ab" * 20,)) if tls else KerberosPolicy(),
    )
    request = parse_message(env.enumerate_request())
    assert isinstance(request, Enumerate)
    root = parse_xml(build_enumerate_response(request, [offer]))
    w = "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}"
    assert root.findtext(f".//{w}Option[@Name='SubscriptionName']") == name
    assert root.findtext(f".//{w}Heartbeats") == f"PT{heartbeat}.000S"
    if revision is not None:
        assert root.findtext(".//Revision") == revision
    if locale is not None:
        assert root.find(f".//{w}Locale").get("{http://www.w3.org/XML/1998/namespace}lang") == locale
    ack = parse_xml(build_ack(request.header))
    assert (
        ack.findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo")
        == request.header.message_id
    )
