# SPDX-License-Identifier: GPL-3.0-or-later
"""parse_message on the project's own Windows-shaped envelopes (tests/protocol/envelopes.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.protocol import envelopes as env
from wec.protocol import (
    End,
    Enumerate,
    EventsBatch,
    Heartbeat,
    RemoteProtocolError,
    SubscriptionEnd,
    ns,
    parse_message,
)


def _status(text: str, **kwargs: object) -> int:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(text, **kwargs)  # type: ignore[arg-type]
    return info.value.status


def _batch(text: str, **kwargs: object) -> EventsBatch:
    msg = parse_message(text, **kwargs)  # type: ignore[arg-type]
    assert isinstance(msg, EventsBatch)
    return msg


class TestDispatch:
    def test_enumerate(self) -> None:
        msg = parse_message(env.enumerate_request())
        assert isinstance(msg, Enumerate)
        h = msg.header
        assert h.action == ns.ACTION_ENUMERATE
        assert h.message_id == env.message_id(0x10)
        assert h.to == env.MANAGER_URL
        assert h.reply_to == ns.ANONYMOUS
        assert h.resource_uri == "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
        assert h.machine_id == env.MACHINE
        assert h.max_envelope_size == 512000
        assert (h.locale, h.data_locale) == ("en-US", "en-US")
        assert h.operation_id == "uuid:C0FFEE00-1234-4ABC-8DEF-0123456789AB"
        assert h.identifier is None and h.version is None and not h.ack_requested

    def test_end(self) -> None:
        msg = parse_message(env.end_request())
        assert isinstance(msg, End)
        assert msg.header.reply_to is None and msg.header.machine_id is None

    def test_heartbeat(self) -> None:
        msg = parse_message(env.heartbeat(revision="r12"))
        assert isinstance(msg, Heartbeat)
        h = msg.header
        assert (h.identifier, h.version, h.revision) == (env.SUB_UUID, env.VERSION, "r12")
        assert h.ack_requested

    def test_events(self) -> None:
        events = [env.event_xml(582114), env.event_xml(582115, channel="System", event_id=7036)]
        msg = _batch(env.events_message(events))
        assert isinstance(msg, EventsBatch)
        assert msg.events == tuple(events)
        assert msg.bookmark == env.BOOKMARK
        assert msg.header.version == env.VERSION

    def test_subscription_end(self) -> None:
        msg = parse_message(env.subscription_end(code="15008"))
        assert isinstance(msg, SubscriptionEnd)
        assert msg.status == "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling"
        assert msg.fault_code == "15008"
        assert msg.fault_machine == env.MACHINE
        assert msg.fault_message == "The subscription is being deleted."
        assert msg.extra["subscription_manager"] == env.SUB_URL
        assert msg.extra["subscription_manager_identifier"] == env.SUB_UUID

    def test_subscription_end_without_fault(self) -> None:
        msg = parse_message(env.subscription_end(with_fault=False))
        assert isinstance(msg, SubscriptionEnd)
        assert msg.fault_code is None and msg.fault_message is None
        assert msg.status is not None


class TestNamespacesNotPrefixes:
    def test_other_prefixes_parse_the_same(self) -> None:
        text = env.heartbeat()
        for old, new in (("s:", "soap:"), ("a:", "wsa:"), ("w:", "wsman:"), ("e:", "wse:")):
            text = text.replace(f"<{old}", f"<{new}").replace(f"</{old}", f"</{new}")
            text = text.replace(f"xmlns:{old[:-1]}=", f"xmlns:{new[:-1]}=").replace(f" {old}", f" {new}")
        assert "soap:Envelope" in text
        msg = parse_message(text)
        assert isinstance(msg, Heartbeat)
        assert msg.header.identifier == env.SUB_UUID

    def test_default_namespace_envelope_parses(self) -> None:
        text = (
            f'<Envelope xmlns="{ns.SOAP}"><Header>'
            f'<Action xmlns="{ns.ADDRESSING}">{ns.ACTION_END}</Action>'
            f'<MessageID xmlns="{ns.ADDRESSING}">uuid:X</MessageID>'
            "</Header><Body/></Envelope>"
        )
        assert isinstance(parse_message(text), End)

    def test_right_local_name_in_the_wrong_namespace_is_not_the_action(self) -> None:
        text = env.end_request().replace(
            f'<a:Action s:mustUnderstand="true">{ns.ACTION_END}</a:Action>',
            f"<w:Action>{ns.ACTION_END}</w:Action>",
        )
        assert _status(text) == 400

    def test_soap_1_1_envelope_is_refused(self) -> None:
        text = env.end_request().replace(ns.SOAP, "http://schemas.xmlsoap.org/soap/envelope/")
        assert _status(text) == 400


class TestHeaderValues:
    def test_text_values_are_trimmed(self) -> None:
        text = env.heartbeat(mid=" \n uuid:ABC \t").replace(f">{env.SUB_UUID}<", f">\n  {env.SUB_UUID}  \n<")
        h = parse_message(text).header
        assert h.message_id == "uuid:ABC"
        assert h.identifier == env.SUB_UUID

    def test_message_id_case_is_kept_verbatim(self) -> None:
        h = parse_message(env.heartbeat(mid="uuid:abcDEF01-0000-0000-0000-000000000000")).header
        assert h.message_id == "uuid:abcDEF01-0000-0000-0000-000000000000"

    def test_lowercase_identifier_is_a_uuid(self) -> None:
        h = parse_message(env.heartbeat(identifier=env.SUB_UUID.lower())).header
        assert h.identifier == env.SUB_UUID.lower()

    def test_non_numeric_max_envelope_size_is_ignored(self) -> None:
        text = env.heartbeat().replace(">512000<", ">lots<")
        assert parse_message(text).header.max_envelope_size is None

    def test_mustunderstand_values_are_not_judged(self) -> None:
        text = env.enumerate_request().replace('s:mustUnderstand="false"', 's:mustUnderstand="true "')
        assert isinstance(parse_message(text), Enumerate)

    def test_comments_in_the_header_are_ignored(self) -> None:
        text = env.heartbeat().replace("<s:Header>", "<s:Header><!-- note --><?pi x?>")
        assert isinstance(parse_message(text), Heartbeat)

    @pytest.mark.parametrize("tag", ["a:Action", "a:MessageID", "e:Identifier", "Version", "w:Bookmark"])
    def test_duplicated_key_headers_are_refused(self, tag: str) -> None:
        text = env.events_message([env.event_xml(1)])
        start = text.index(f"<{tag}")
        end = text.index(f"</{tag}>", start) + len(f"</{tag}>")
        element = text[start:end]
        doubled = text[:end] + element + text[end:]
        assert _status(doubled) == 400


class TestMalformedRequestsAre4xx:
    """wec answers every malformed request with a 4xx (OpenWEC sometimes says 500)."""

    def test_unparsable_xml(self) -> None:
        assert _status(env.heartbeat()[:-20]) == 400

    def test_missing_action(self) -> None:
        text = env.end_request()
        start = text.index("<a:Action")
        end = text.index("</a:Action>") + len("</a:Action>")
        assert _status(text[:start] + text[end:]) == 400

    def test_empty_action(self) -> None:
        assert _status(env.end_request().replace(ns.ACTION_END, "  ")) == 400

    def test_unknown_action(self) -> None:
        assert _status(env.end_request().replace(ns.ACTION_END, ns.ACTION_ACK)) == 400

    def test_action_compared_exactly(self) -> None:
        assert _status(env.end_request().replace(ns.ACTION_END, ns.ACTION_END.upper())) == 400

    def test_missing_message_id(self) -> None:
        assert _status(env.heartbeat(mid=None)) == 400

    def test_missing_header(self) -> None:
        text = f'<s:Envelope xmlns:s="{ns.SOAP}"><s:Body/></s:Envelope>'
        assert _status(text) == 400

    def test_not_an_envelope(self) -> None:
        assert _status("<Envelope/>") == 400

    @pytest.mark.parametrize("make", [env.heartbeat, lambda **kw: env.events_message([], **kw)])
    def test_heartbeat_and_events_need_an_identifier(self, make: Callable[..., str]) -> None:
        assert _status(make(identifier=None)) == 400

    @pytest.mark.parametrize(
        "identifier",
        ["s1", "not-a-uuid", "+9D4C2B7A1E3F4A588C6D0B7E2F1A3C9", "9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C9Z"],
    )
    def test_identifier_must_be_a_uuid(self, identifier: str) -> None:
        # OpenWEC answers 500 here; the peer is at fault, so wec says 400.
        assert _status(env.heartbeat(identifier=identifier)) == 400

    @pytest.mark.parametrize(
        "identifier",
        ["{9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95}", "9D4C2B7A1E3F4A588C6D0B7E2F1A3C95", env.SUB_UUID.lower()],
    )
    def test_other_uuid_spellings_are_accepted(self, identifier: str) -> None:
        assert parse_message(env.heartbeat(identifier=identifier)).header.identifier == identifier

    def test_events_need_the_version_reference_parameter(self) -> None:
        assert _status(env.events_message([env.event_xml(1)], version=None)) == 400

    def test_heartbeat_does_not_need_a_version(self) -> None:
        assert isinstance(parse_message(env.heartbeat(version=None)), Heartbeat)

    def test_too_many_events_is_413(self) -> None:
        text = env.events_message([env.event_xml(i) for i in range(6)])
        assert _status(text, max_events=5) == 413
        assert len(_batch(text, max_events=6).events) == 6

    def test_oversized_envelope_is_413(self) -> None:
        assert _status(env.heartbeat(), max_chars=100) == 413

    def test_doctype_is_400(self) -> None:
        assert _status('<!DOCTYPE s:Envelope [<!ENTITY x "y">]>' + env.heartbeat()) == 400


class TestEvents:
    def test_batch_without_bookmark_is_accepted(self) -> None:
        # docs/protocol.md §3.5: Ack it and keep the old bookmark (OpenWEC answers 500).
        msg = _batch(env.events_message([env.event_xml(1)], bookmark=None))
        assert isinstance(msg, EventsBatch)
        assert msg.bookmark is None

    @pytest.mark.parametrize("content", ["", "   ", ns.BOOKMARK_EARLIEST, "<Other/>"])
    def test_bookmark_element_without_a_bookmark_list_counts_as_none(self, content: str) -> None:
        msg = _batch(env.events_message([env.event_xml(1)], bookmark=content))
        assert msg.bookmark is None

    def test_bookmark_is_serialised_without_namespace_pollution(self) -> None:
        msg = _batch(env.events_message([env.event_xml(1)]))
        assert msg.bookmark == env.BOOKMARK
        assert "xmlns" not in msg.bookmark

    def test_backward_bookmark_is_kept_verbatim(self) -> None:
        # docs/protocol.md §9: seen after a collector restart; store it as it came.
        bookmark = (
            '<BookmarkList Direction="backward"><Bookmark Channel="Security" RecordId="12"/></BookmarkList>'
        )
        msg = _batch(env.events_message([env.event_xml(1)], bookmark=bookmark))
        assert msg.bookmark == bookmark

    def test_bookmark_inner_whitespace_is_kept(self) -> None:
        bookmark = '<BookmarkList>\n  <Bookmark Channel="Security" RecordId="12"/>\n</BookmarkList>'
        msg = _batch(env.events_message([env.event_xml(1)], bookmark=bookmark))
        assert msg.bookmark == bookmark

    def test_event_payloads_are_verbatim(self) -> None:
        event = env.event_xml(5, message="Line one.\r\n\tLine two & <three>")
        msg = _batch(env.events_message([event]))
        # XML end-of-line normalisation (XML 1.0 §2.11) applies inside CDATA as well.
        assert msg.events == (event.replace("\r\n", "\n"),)

    def test_non_ascii_payloads(self) -> None:
        event = env.event_xml(5, message="Kontoanmeldung für Jürgen — 成功 \U0001f600")
        assert _batch(env.events_message([event])).events == (event,)

    def test_invalid_xml_characters_in_events_are_escaped(self) -> None:
        # docs/protocol.md §3.8: U+0004 and U+0005 inside the CDATA become "\u{4}", "\u{5}".
        event = env.event_xml(9, message="bad\x04chars\x05here\x1f")
        msg = _batch(env.events_message([event, env.event_xml(10)]))
        assert msg.events[0] == env.event_xml(9, message="bad\\u{4}chars\\u{5}here\\u{1f}")
        assert msg.events[1] == env.event_xml(10)

    def test_empty_events_element_gives_an_empty_batch(self) -> None:
        msg = _batch(env.events_message([]))
        assert msg.events == ()

    def test_foreign_elements_among_events_are_skipped(self) -> None:
        text = env.events_message([env.event_xml(1)]).replace("<w:Events>", "<w:Events><w:Other>x</w:Other>")
        assert len(_batch(text).events) == 1

    def test_require_version_false_accepts_windows_wec_traffic(self) -> None:
        msg = parse_message(env.events_message([env.event_xml(1)], version=None), require_version=False)
        assert isinstance(msg, EventsBatch)
        assert msg.header.version is None
