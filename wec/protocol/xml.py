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

import re
from typing import Final

from lxml import etree

from wec.xmlparser import thread_parser

from .errors import RemoteProtocolError

__all__ = ["DEFAULT_MAX_CHARS", "escape_invalid_xml_chars", "parse_xml"]

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
