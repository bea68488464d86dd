# SPDX-License-Identifier: GPL-3.0-or-later
"""wec.xmlparser: every parser it makes is hardened, whatever the caller's flags."""

from __future__ import annotations

import threading

import pytest
from lxml import etree

from wec.xmlparser import hardened_parser, thread_parser

FLAGS = [
    {},
    {"remove_blank_text": True},
    {"recover": True},
    {"remove_blank_text": True, "recover": True},
]
ENTITY_BOMB = '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
XXE = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]><r>&x;</r>'


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("document", [ENTITY_BOMB, XXE], ids=["internal-entity", "external-entity"])
def test_no_flag_lets_an_entity_through(flags: dict[str, bool], document: str) -> None:
    root = etree.fromstring(document.encode(), hardened_parser(**flags))
    assert "aaaa" not in (root.text or "")
    assert len(etree.tostring(root)) < 100


def test_a_declared_encoding_is_overridden_by_utf8() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><a>Grüße</a>'
    assert etree.fromstring(text.encode("utf-8"), hardened_parser()).text == "Grüße"


def test_blank_text_is_kept_unless_asked() -> None:
    data = b"<a> <b/> </a>"
    assert etree.fromstring(data, hardened_parser()).text == " "
    assert etree.fromstring(data, hardened_parser(remove_blank_text=True)).text is None


def test_malformed_documents_are_refused_unless_recover_is_asked() -> None:
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(b"<a><b></a>", hardened_parser())
    assert etree.fromstring(b"<a><b></a>", hardened_parser(recover=True)).tag == "a"


def test_nesting_deeper_than_libxml2_limit_is_refused() -> None:
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(b"<a>" * 5000 + b"</a>" * 5000, hardened_parser())


def test_each_thread_gets_its_own_parser_per_flag_set() -> None:
    mine = thread_parser()
    assert thread_parser() is mine
    assert thread_parser(remove_blank_text=True) is not mine
    other: list[etree.XMLParser] = []
    worker = threading.Thread(target=lambda: other.append(thread_parser()))
    worker.start()
    worker.join(10)
    assert other and other[0] is not mine
