# SPDX-License-Identifier: GPL-3.0-or-later
"""The hardened parser: hostile documents are refused with 400/413, never expanded."""

from __future__ import annotations

import threading

import pytest
from lxml import etree

from wec.protocol import RemoteProtocolError, escape_invalid_xml_chars, parse_xml
from wec.protocol.xml import _parse_once
from wec.xmlparser import hardened_parser

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>"""

XXE_FILE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""

XXE_PARAMETER = """<!DOCTYPE foo [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]><foo/>"""

EXTERNAL_DTD = """<!DOCTYPE foo SYSTEM "file:///etc/passwd"><foo/>"""


def _status(text: str) -> int:
    with pytest.raises(RemoteProtocolError) as info:
        parse_xml(text)
    return info.value.status


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, XXE_FILE, XXE_PARAMETER, EXTERNAL_DTD, "<!DOCTYPE a><a/>"],
    ids=["billion-laughs", "xxe-file", "xxe-parameter-entity", "external-dtd", "bare-doctype"],
)
def test_any_doctype_is_refused_with_400(document: str) -> None:
    assert _status(document) == 400


@pytest.mark.parametrize(
    "prolog",
    ["", "  \n", '<?xml version="1.0"?>', "<!-- hello -->", '<?xml version="1.0"?>\n<!-- c --><?pi x?>\n'],
)
def test_doctype_is_found_behind_any_prolog(prolog: str) -> None:
    assert _status(prolog + "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>") == 400


def test_doctype_that_slips_past_the_prolog_check_is_still_refused_after_parsing() -> None:
    # _parse_once is the post-parse safety net; feed it directly.
    with pytest.raises(RemoteProtocolError) as info:
        _parse_once("<!DOCTYPE a><a/>")
    assert info.value.status == 400


def test_entity_references_without_declaration_are_an_error_not_an_expansion() -> None:
    assert _status("<a>&xxe;</a>") == 400


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE_FILE], ids=["billion-laughs", "xxe-file"])
def test_our_parser_configuration_never_expands_entities(document: str) -> None:
    # Defence in depth: were the DOCTYPE refusal to regress, the parser itself would still
    # neither expand internal entities nor read files.
    root = etree.fromstring(document.encode(), hardened_parser())
    serialised = etree.tostring(root, encoding="unicode")
    assert "root:" not in serialised
    assert "lollol" not in serialised
    assert len(serialised) < 100


def test_documents_over_the_size_cap_are_refused_with_413() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_xml("<a>" + "x" * 1000 + "</a>", max_chars=500)
    assert info.value.status == 413


def test_documents_at_the_size_cap_are_accepted() -> None:
    text = "<a>" + "x" * 93 + "</a>"
    assert len(text) == 100
    assert parse_xml(text, max_chars=100).text == "x" * 93


def test_nesting_deeper_than_libxml2_limit_is_refused() -> None:
    # huge_tree is off, so libxml2 caps element depth (256); a WEF envelope needs < 20.
    assert _status("<a>" * 5000 + "</a>" * 5000) == 400


def test_ordinary_nesting_is_accepted() -> None:
    root = parse_xml("<a>" * 100 + "</a>" * 100)
    assert root.tag == "a"


@pytest.mark.parametrize("text", ["", "   ", "not xml", "<a>", "<a></b>", "<a/><b/>", "\x00"])
def test_malformed_documents_are_400(text: str) -> None:
    assert _status(text) == 400


def test_a_leading_bom_is_ignored() -> None:
    assert parse_xml("\ufeff<a>b</a>").text == "b"


def test_a_declared_encoding_does_not_confuse_the_text_parser() -> None:
    # The text is already decoded; the declaration (UTF-16 here) must be ignored.
    root = parse_xml('<?xml version="1.0" encoding="UTF-16"?><a>Grüße €</a>')
    assert root.text == "Grüße €"


def test_whitespace_is_preserved() -> None:
    root = parse_xml("<a> <b> x\r\n</b> </a>")
    assert root.text == " "
    assert root[0].text == " x\n"  # XML end-of-line handling turns CR LF into LF (XML 1.0 §2.11)


def test_cdata_with_crlf_keeps_the_line_feed() -> None:
    assert parse_xml("<a><![CDATA[one\ntwo]]></a>").text == "one\ntwo"


class TestInvalidCharacterFallback:
    """docs/protocol.md §3.8: characters illegal in XML 1.0 become ``\\u{hex}``."""

    def test_control_characters_inside_cdata_are_replaced(self) -> None:
        root = parse_xml("<a><![CDATA[<Data>x\x04y\x05</Data>]]></a>")
        assert root.text == "<Data>x\\u{4}y\\u{5}</Data>"

    def test_hex_is_lowercase_without_padding(self) -> None:
        assert escape_invalid_xml_chars("\x1f\x0b\x00") == "\\u{1f}\\u{b}\\u{0}"

    def test_lone_surrogates_and_nonchars_are_replaced(self) -> None:
        assert escape_invalid_xml_chars("a\ud800b\uffff") == "a\\u{d800}b\\u{ffff}"

    def test_legal_characters_are_untouched(self) -> None:
        text = "tab\t lf\n cr\r é € \U0001f600 \ue000 \ufffd"
        assert escape_invalid_xml_chars(text) == text

    def test_control_characters_in_text_and_attributes_are_replaced_too(self) -> None:
        root = parse_xml('<a k="v\x01">t\x02</a>')
        assert root.get("k") == "v\\u{1}"
        assert root.text == "t\\u{2}"

    def test_documents_broken_for_another_reason_are_still_400(self) -> None:
        assert _status("<a>\x05</b>") == 400

    def test_character_references_to_illegal_characters_stay_an_error(self) -> None:
        # "&#5;" contains no illegal *character*: nothing to substitute, the document is bad.
        assert _status("<a>&#5;</a>") == 400


def test_parsers_are_per_thread_and_usable_concurrently() -> None:
    docs = [f"<a><b>{i}</b></a>" for i in range(200)]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i, d in enumerate(docs):
                assert parse_xml(d)[0].text == str(i)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert not any(t.is_alive() for t in threads)


@pytest.mark.timeout(60)  # a hang guard, not a speed assertion: the old code needed days
@pytest.mark.parametrize("unit", ["<?a?>", "<!--x-->"])
def test_prolog_check_does_not_backtrack_over_many_prolog_items(unit: str) -> None:
    # The old prolog regex, (?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE, backtracked
    # exponentially over a run of PIs/comments not followed by a DOCTYPE: 27 took 25 s,
    # 40 would take days. With 60 and 2000 items a regression hangs until the timeout.
    for count in (60, 2000):
        assert parse_xml(unit * count + "<r/>").tag == "r"
        assert _status(unit * count + "<!DOCTYPE r><r/>") == 400
