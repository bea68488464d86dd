# SPDX-License-Identifier: GPL-3.0-or-later
"""XML parsing for the protocol core: wec's hardened parser, plus a DOCTYPE refusal.

Every byte that reaches it came from the network, so it uses the parser of
:mod:`wec.xmlparser` (entities never substituted, no DTD loaded, no network access,
``huge_tree`` off, which also keeps libxml2's own nesting-depth and text-size limits), and a
document with a DOCTYPE is refused outright (no WEF message has one, and it is the door to
entity bombs). Whitespace is preserved: payloads are passed on verbatim.

docs/protocol.md §3.8: Windows may put characters that XML 1.0 forbids (U+0004, U+0005, …) inside
event CDATA. When, and only when, a document fails to parse and contains such characters,
each one is replaced with the text ``\\u{<hex>}`` and the document is parsed again, as
OpenWEC does. Valid documents never pay for the scan.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass
from typing import Final

import numpy as np
from lxml import etree

from wec.xmlparser import thread_parser

from .errors import RemoteProtocolError

__all__ = ["DEFAULT_MAX_CHARS", "Lifted", "escape_invalid_xml_chars", "lift_cdata", "parse_xml"]

# A WEF envelope is bounded by w:MaxEnvelopeSize (512000 bytes by default, i.e. 256 Ki UTF-16
# code units); allow generous headroom for large max_envelope_size settings.
DEFAULT_MAX_CHARS: Final = 8 * 1024 * 1024

# XML 1.0 §2.2 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Everything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) is illegal even in CDATA.
_ILLEGAL_XML_CHARS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# A DOCTYPE can only appear in the prolog: after an optional XML declaration, comments, PIs
# and whitespace, before the root element. Refuse it before libxml2 sees the document.
# A hand-written scan, not one regex: "(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE" backtracks
# exponentially over a run of PIs or comments that is not followed by a DOCTYPE.
_PROLOG_BLANKS: Final = re.compile(r"\s*")


def _doctype_in_prolog(text: str) -> bool:
    """True when a ``<!DOCTYPE`` follows the prolog's PIs, comments and blanks. Linear."""
    pos = 0
    while True:
        blanks = _PROLOG_BLANKS.match(text, pos)
        pos = blanks.end() if blanks is not None else pos
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                return False
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return False
            pos = end + 3
        else:
            return text.startswith("<!DOCTYPE", pos)


def escape_invalid_xml_chars(text: str) -> str:
    """Replace each character illegal in XML 1.0 with ``\\u{<lowercase hex>}`` (docs/protocol.md §3.8).

    U+0005 becomes ``\\u{5}``, U+001F becomes ``\\u{1f}``: the spelling of Rust's ``{:?}``,
    so our events match OpenWEC's byte for byte.
    """
    return _ILLEGAL_XML_CHARS.sub(lambda m: f"\\u{{{ord(m.group()):x}}}", text)


def _parse_once(text: str) -> etree._Element:
    data = text.encode("utf-8")  # UnicodeEncodeError on lone surrogates: handled by the caller
    root = etree.fromstring(data, thread_parser())
    if root.getroottree().docinfo.doctype:
        # Belt and braces: the prolog check above should have caught it already.
        raise RemoteProtocolError("DOCTYPE is not allowed", 400)
    return root


def parse_xml(text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> etree._Element:
    """Parse one untrusted XML document and return its root element.

    Raises :class:`RemoteProtocolError` with status 413 when ``text`` is longer than
    ``max_chars`` and 400 for anything that is not a well-formed, DOCTYPE-free document
    (after the invalid-character fallback of docs/protocol.md §3.8).
    """
    if len(text) > max_chars:
        raise RemoteProtocolError(f"XML document too large ({len(text)} > {max_chars} chars)", 413)
    if text.startswith("\ufeff"):
        text = text[1:]
    if _doctype_in_prolog(text):
        raise RemoteProtocolError("DOCTYPE is not allowed", 400)
    try:
        return _parse_once(text)
    except (etree.XMLSyntaxError, UnicodeEncodeError) as err:
        first_error: Exception = err
    except (etree.LxmlError, ValueError) as err:
        raise RemoteProtocolError(f"unparsable XML: {err}", 400) from err
    # Slow path, only for documents that failed: are illegal characters the cause?
    if not _ILLEGAL_XML_CHARS.search(text):
        raise RemoteProtocolError(f"unparsable XML: {first_error}", 400) from first_error
    try:
        return _parse_once(escape_invalid_xml_chars(text))
    except (etree.LxmlError, ValueError) as err:
        raise RemoteProtocolError(f"unparsable XML: {err}", 400) from err


def _has_illegal_chars(text: str) -> bool:
    """What ``_ILLEGAL_XML_CHARS.search`` says, at C speed on large texts (the regex engine
    takes ~3 ns a character). In UTF-8 a C0 control never occurs inside a multi-byte sequence
    (whose bytes are all >= 0x80): the bytes below 0x20 must all be TAB, LF or CR."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return True  # a lone surrogate
    units = np.frombuffer(data, dtype=np.uint8)
    controls = units[units < 0x20]
    if controls.size and np.count_nonzero((controls != 0x09) & (controls != 0x0A) & (controls != 0x0D)):
        return True
    if text.isascii():
        return False
    # U+FFFE and U+FFFF are EF BF BE and EF BF BF (``bytes.find`` would take ~1.4 ns a byte).
    lead = np.flatnonzero(units[:-2] == 0xEF)
    if not lead.size:
        return False
    return bool(np.any((units[lead + 1] == 0xBF) & (units[lead + 2] >= 0xBE)))


_CDATA_OPEN: Final = "<![CDATA["
_CDATA_CLOSE: Final = "]]>"


@dataclass(frozen=True, slots=True)
class Lifted:
    """A document whose CDATA sections were taken out (:func:`lift_cdata`).

    ``skeleton`` is the document with each section's content replaced by a marker;
    ``contents[markers[m]]`` is the content that marker ``m`` stands for, as a parser would
    report it (line ends normalised). A ``collapsed`` skeleton has a single marker, for every
    content.
    """

    skeleton: str
    contents: list[str]
    markers: dict[str, int]
    # True when the skeleton holds one event standing for all of them (see lift_cdata): its
    # single marker then stands for every content, in order.
    collapsed: bool = False


def lift_cdata(text: str, max_sections: int) -> Lifted | None:
    """Take the CDATA sections out of ``text`` so that libxml2 parses only the rest.

    An Events envelope is almost all CDATA (docs/protocol.md §3.5: one section per event),
    and a parser checks every character of it; a scan with ``str.find`` and one vectorised
    look for the characters XML forbids does the same work several times faster.

    The scan does not know where comments or processing instructions are, so it may mistake
    text for a section; the caller therefore accepts the skeleton only when every marker
    turns out to be the whole text of one element (see :mod:`wec.protocol.parse`), and
    otherwise parses ``text`` itself. Markers carry a random nonce, so a peer cannot write
    one. Returns None when there is no section, or when the document has a character XML
    forbids (the full parse decides then, with its fallback of §3.8), or more than
    ``max_sections`` sections.
    """
    start = text.find(_CDATA_OPEN)
    if start < 0 or _has_illegal_chars(text):
        return None
    contents: list[str] = []
    spans: list[tuple[int, int]] = []  # each section's content, [begin, end) in text
    find = text.find
    opened, closed = len(_CDATA_OPEN), len(_CDATA_CLOSE)
    while start >= 0:
        begin = start + opened
        # "]]>" by its first character: a one-character find is a memchr, several times
        # faster than CPython's search for a longer needle, and "]" is rare in events.
        # Bounded: after a few lone "]", one search for "]]>" (a hostile run of "]" must not
        # cost a Python iteration per character).
        end = find("]", begin)
        misses = 0
        while end >= 0 and not text.startswith(_CDATA_CLOSE, end):
            misses += 1
            end = find("]", end + 1) if misses < 8 else find(_CDATA_CLOSE, end + 1)
        if end < 0:
            return None  # unterminated: not well-formed, the full parse says so
        content = text[begin:end]
        if "\r" in content:  # XML 1.0 §2.11: a parser reports CR LF and lone CR as LF
            content = content.replace("\r\n", "\n").replace("\r", "\n")
        if len(contents) >= max_sections:
            return None  # more sections than a batch may have events: the full parse decides
        contents.append(content)
        spans.append((begin, end))
        start = find(_CDATA_OPEN, end + closed)
    prefix = secrets.token_hex(16) + "."
    if _same_wrappers(text, spans):
        # Every section sits in an element written exactly as the first one: libxml2 need
        # only see that one, holding one marker for all of them.
        marker = prefix + "all"
        skeleton = text[: spans[0][0]] + marker + text[spans[-1][1] :]
        return Lifted(skeleton, contents, {marker: 0}, collapsed=True)
    parts: list[str] = []
    markers: dict[str, int] = {}
    pos = 0
    for index, (begin, end) in enumerate(spans):
        marker = prefix + str(index)
        markers[marker] = index
        parts.append(text[pos:begin])
        parts.append(marker)
        pos = end
    parts.append(text[pos:])
    return Lifted("".join(parts), contents, markers)


def _same_wrappers(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether between each two sections there is exactly the end tag that follows the last
    section and the start tag that precedes the first: ``]]></w:Event><w:Event …><![CDATA[``
    with the same bytes every time, nothing else (no whitespace, comment or other element).

    Then the document is, textually, the first event's element repeated with other CDATA
    contents: if libxml2 accepts the skeleton with one such element (a well-formed start and
    end tag, a ``w:Event`` in its place), it would accept them all, and each one's text is
    its section. Any other layout keeps one marker per section."""
    if len(spans) < 2:
        return False
    first, last = spans[0][0] - len(_CDATA_OPEN), spans[-1][1] + len(_CDATA_CLOSE)
    open_at = text.rfind("<", 0, first)
    close_at = text.find(">", last)
    if open_at < 0 or close_at < 0:
        return False
    start_tag, end_tag = text[open_at:first], text[last : close_at + 1]
    if not start_tag.endswith(">") or start_tag[1:2] in ("/", "!", "?") or not end_tag.startswith("</"):
        return False
    glue = _CDATA_CLOSE + end_tag + start_tag + _CDATA_OPEN
    width = len(glue)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        if begin - end != width or not text.startswith(glue, end):
            return False
    return True
