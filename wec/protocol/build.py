# SPDX-License-Identifier: GPL-3.0-or-later
"""Collector → source messages: EnumerateResponse (docs/protocol.md §3.4) and Ack (§3.6).

The output is text; the transport encodes it as UTF-16LE with a BOM (§3.8). It is written
with string templates rather than a tree API because the exact form matters to Windows:

* no inter-element whitespace, element order as Windows writes it (OptionSet, Delivery);
* ``QueryList``, ``BookmarkList`` and the ``Version``/``Revision`` reference parameters are
  in **no namespace**, so no element that encloses them may declare a default ``xmlns``
  (none here does: every namespaced element is prefixed);
* the stored bookmark goes in verbatim, the query as re-serialised markup (not escaped text).

Values we interpolate are escaped; a value that cannot be written as XML 1.0 (a control
character in a subscription name, say) raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from lxml import etree

from wec.model import ContentFormat, Subscription

from . import ns
from ._ids import is_hyphenated_uuid, new_message_id
from .errors import LocalProtocolError, RemoteProtocolError
from .messages import Enumerate, Header
from .xml import parse_xml

__all__ = [
    "KerberosPolicy",
    "SubscriptionOffer",
    "TlsPolicy",
    "build_ack",
    "build_enumerate_response",
    "compact_query",
]

_THUMBPRINT_RE: Final = re.compile(r"[0-9A-F]{40}", re.ASCII)
_ILLEGAL_XML_CHARS: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class KerberosPolicy:
    """Sources authenticate with Kerberos over HTTP (``secprofile/http/spnego-kerberos``)."""


@dataclass(frozen=True)
class TlsPolicy:
    """Sources authenticate with a client certificate issued by one of these CAs.

    Each thumbprint is the SHA-1 of an issuing CA certificate (MS-WSMV §3.1.4.1.30.3). They
    are normalised to 40 uppercase hex digits (Windows WEC's form); one ``c:All``
    alternative is emitted per CA, as Windows WEC does.
    """

    issuer_thumbprints: tuple[str, ...]

    def __post_init__(self) -> None:
        normalised = tuple(t.replace(":", "").replace(" ", "").upper() for t in self.issuer_thumbprints)
        if not normalised:
            raise LocalProtocolError("a TLS policy needs at least one issuer thumbprint")
        for t in normalised:
            if _THUMBPRINT_RE.fullmatch(t) is None:
                raise LocalProtocolError(f"not a SHA-1 thumbprint: {t!r}")
        object.__setattr__(self, "issuer_thumbprints", normalised)


@dataclass(frozen=True)
class SubscriptionOffer:
    """One subscription as offered to one source in an EnumerateResponse."""

    subscription: Subscription
    version: str  # subscription_version(): UPPERCASE UUID, no "uuid:" prefix
    address: str  # NotifyTo = EndTo URL (addressing.notify_address)
    bookmark: str | None  # the <BookmarkList> stored for (this source, subscription), verbatim
    policy: KerberosPolicy | TlsPolicy

    def __post_init__(self) -> None:
        if not is_hyphenated_uuid(self.version) or self.version != self.version.upper():
            raise LocalProtocolError(f"version must be an uppercase UUID: {self.version!r}")


# ---------------------------------------------------------------------------------------------
# Escaping


def _check(value: str) -> str:
    if _ILLEGAL_XML_CHARS.search(value):
        raise LocalProtocolError(f"value not representable in XML 1.0: {value[:100]!r}")
    return value


def _text(value: str) -> str:
    # CR as a character reference: XML end-of-line handling (XML 1.0 §2.11) would turn a
    # literal CR into LF on the other side.
    return (
        _check(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _attr(value: str) -> str:
    # Blanks as character references: attribute-value normalisation (XML 1.0 §3.3.3) would
    # otherwise turn a tab or newline into a space on the other side.
    return _text(value).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def _seconds(value: int, decimals: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"durations are whole non-negative seconds, not {value!r}")
    return f"PT{value}.{decimals}S"


def _integer(value: int, what: str, minimum: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LocalProtocolError(f"{what} must be an integer >= {minimum}, not {value!r}")
    return str(value)


# ---------------------------------------------------------------------------------------------
# Query and bookmark markup


@functools.lru_cache(maxsize=256)
def compact_query(query: str) -> str:
    """The subscription's ``<QueryList>`` re-serialised for ``w:Filter`` (docs/protocol.md §3.4.2).

    Whitespace between elements, comments and PIs are dropped; text inside elements (the
    XPath of a ``Select``) is kept as written. The root must be ``QueryList`` in no
    namespace (MS-WSMV §2.2.4.24), else :class:`LocalProtocolError`.
    """
    try:
        root = parse_xml(query)
    except RemoteProtocolError as err:
        raise LocalProtocolError(f"subscription query is not well-formed XML: {err}") from err
    if root.tag != ns.QUERY_LIST:
        raise LocalProtocolError(f"subscription query root must be <QueryList>, not {root.tag!r}")
    etree.strip_tags(root, etree.Comment, etree.ProcessingInstruction)
    for el in root.iter():
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    root.tail = None
    etree.cleanup_namespaces(root)
    text: str = etree.tostring(root, encoding="unicode")
    return text


def _checked_bookmark(bookmark: str) -> str:
    """The stored bookmark, verbatim, after checking that it is a lone ``<BookmarkList>``.

    It came from a source (parse.serialize_bookmark), and goes back into markup unescaped:
    refuse anything that would not stay one well-formed element in no namespace.
    """
    if not bookmark.startswith("<BookmarkList"):
        raise LocalProtocolError("stored bookmark does not start with <BookmarkList")
    try:
        root = parse_xml(bookmark)
    except RemoteProtocolError as err:
        raise LocalProtocolError(f"stored bookmark is not well-formed XML: {err}") from err
    if root.tag != ns.BOOKMARK_LIST:
        raise LocalProtocolError(f"stored bookmark root is {root.tag!r}, not BookmarkList")
    return bookmark


# ---------------------------------------------------------------------------------------------
# Fixed fragments

_ENVELOPE_OPEN: Final = (
    f'<s:Envelope xml:lang="en-US" xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}"'
    f' xmlns:n="{ns.ENUMERATION}" xmlns:w="{ns.WSMAN}" xmlns:p="{ns.MS_WSMAN}">'
)
_INNER_ENVELOPE_OPEN: Final = (
    f'<s:Envelope xmlns:s="{ns.SOAP}" xmlns:a="{ns.ADDRESSING}" xmlns:e="{ns.EVENTING}"'
    f' xmlns:n="{ns.ENUMERATION}" xmlns:w="{ns.WSMAN}" xmlns:p="{ns.MS_WSMAN}">'
)
_POLICY_OPEN: Final = f'<c:Policy xmlns:c="{ns.POLICY}" xmlns:auth="{ns.AUTHENTICATION}"><c:ExactlyOne>'
_POLICY_CLOSE: Final = "</c:ExactlyOne></c:Policy>"
_KERBEROS_POLICY: Final = (
    f'{_POLICY_OPEN}<c:All><auth:Authentication Profile="{ns.PROFILE_KERBEROS}"/></c:All>{_POLICY_CLOSE}'
)


def _outer_header(to: str | None, action: str, message_id: str, relates_to: str) -> str:
    # OpenWEC's order (docs/protocol.md §3.4); p:OperationID deliberately omitted: echoing it
    # announces robust-connection support (MS-WSMV §3.1.4.1.39), which we do not offer.
    return (
        "<s:Header>"
        f"<a:To>{_text(to or ns.ANONYMOUS)}</a:To>"
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        f"<a:MessageID>{_text(message_id)}</a:MessageID>"
        '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>'
        f"<a:RelatesTo>{_text(relates_to)}</a:RelatesTo>"
        "</s:Header>"
    )


def _policy(policy: KerberosPolicy | TlsPolicy) -> str:
    if isinstance(policy, KerberosPolicy):
        return _KERBEROS_POLICY
    alternatives = "".join(
        f'<c:All><auth:Authentication Profile="{ns.PROFILE_TLS_MUTUAL}"><auth:ClientCertificate>'
        f'<auth:Thumbprint Role="issuer">{t}</auth:Thumbprint>'
        "</auth:ClientCertificate></auth:Authentication></c:All>"
        for t in policy.issuer_thumbprints
    )
    return f"{_POLICY_OPEN}{alternatives}{_POLICY_CLOSE}"


def _option_set(sub: Subscription) -> str:
    # MS-WSMV §3.1.4.1.30.1, in Windows WEC's order. IgnoreChannelError "off" is written
    # xsi:nil="false" as OpenWEC does; ReadExistingEvents appears only when true.
    content_format = ContentFormat(sub.content_format).value
    parts = [
        f'<w:OptionSet xmlns:xsi="{ns.XSI}">',
        f'<w:Option Name="SubscriptionName">{_text(sub.name)}</w:Option>',
        '<w:Option Name="Compression">SLDC</w:Option>',
        '<w:Option Name="CDATA" xsi:nil="true"/>',
        f'<w:Option Name="ContentFormat">{content_format}</w:Option>',
        f'<w:Option Name="IgnoreChannelError" xsi:nil="{"true" if sub.ignore_channel_error else "false"}"/>',
    ]
    if sub.read_existing_events:
        parts.append('<w:Option Name="ReadExistingEvents" xsi:nil="true"/>')
    parts.append("</w:OptionSet>")
    return "".join(parts)


def _reference_parameters(offer: SubscriptionOffer) -> str:
    # OpenWEC's scheme (docs/protocol.md §3.4.3): the source echoes these as SOAP headers, which
    # names the subscription and the configuration that produced each batch.
    revision = offer.subscription.revision
    return (
        "<a:ReferenceParameters>"
        f"<e:Identifier>{offer.subscription.uuid_upper}</e:Identifier>"
        f"<Version>{offer.version}</Version>"
        + (f"<Revision>{_text(revision)}</Revision>" if revision is not None else "")
        + "</a:ReferenceParameters>"
    )


def _bookmark(offer: SubscriptionOffer) -> str:
    # Exactly one case applies (docs/protocol.md §3.4.4; DSP0226 §10.2.6).
    if offer.bookmark is not None:
        return f"<w:Bookmark>{_checked_bookmark(offer.bookmark)}</w:Bookmark>"
    if offer.subscription.read_existing_events:
        return f"<w:Bookmark>{ns.BOOKMARK_EARLIEST}</w:Bookmark>"
    return ""  # no element: the source starts with the next event


def _subscription(offer: SubscriptionOffer, new_id: Callable[[], str]) -> str:
    sub = offer.subscription
    address = f"<a:Address>{_text(offer.address)}</a:Address>"
    refs = _reference_parameters(offer)
    max_envelope_size = _integer(sub.max_envelope_size, "max_envelope_size", 1)
    locales = ""
    if sub.locale is not None:
        locales += f'<w:Locale xml:lang="{_attr(sub.locale)}" s:mustUnderstand="false"/>'
    if sub.data_locale is not None:
        locales += f'<p:DataLocale xml:lang="{_attr(sub.data_locale)}" s:mustUnderstand="false"/>'
    max_elements = (
        f"<w:MaxElements>{_integer(sub.max_elements, 'max_elements', 1)}</w:MaxElements>"
        if sub.max_elements is not None
        else ""
    )
    return "".join(
        (
            f'<m:Subscription xmlns:m="{ns.SUBSCRIPTION}">',
            f"<m:Version>uuid:{offer.version}</m:Version>",
            _INNER_ENVELOPE_OPEN,
            "<s:Header>",
            f"<a:To>{ns.ANONYMOUS}</a:To>",
            f'<w:ResourceURI s:mustUnderstand="true">{ns.RESOURCE_EVENT_LOG}</w:ResourceURI>',
            f'<a:ReplyTo><a:Address s:mustUnderstand="true">{ns.ANONYMOUS}</a:Address></a:ReplyTo>',
            f'<a:Action s:mustUnderstand="true">{ns.ACTION_SUBSCRIBE}</a:Action>',
            f'<w:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope_size}</w:MaxEnvelopeSize>',
            f"<a:MessageID>{_text(new_id())}</a:MessageID>",
            f'<p:OperationID s:mustUnderstand="false">{_text(new_id())}</p:OperationID>',
            '<p:SequenceId s:mustUnderstand="false">1</p:SequenceId>',
            _option_set(sub),
            "</s:Header>",
            "<s:Body><e:Subscribe>",
            f"<e:EndTo>{address}{refs}</e:EndTo>",
            f'<e:Delivery Mode="{ns.DELIVERY_MODE_EVENTS}">',
            f"<w:Heartbeats>{_seconds(sub.heartbeat_interval, '000')}</w:Heartbeats>",
            f"<e:NotifyTo>{address}{refs}{_policy(offer.policy)}</e:NotifyTo>",
            f'<w:ConnectionRetry Total="{_integer(sub.connection_retry_count, "connection_retry_count", 0)}">'
            f"{_seconds(sub.connection_retry_interval, '0')}</w:ConnectionRetry>",
            max_elements,
            f"<w:MaxTime>{_seconds(sub.max_time, '000')}</w:MaxTime>",
            f'<w:MaxEnvelopeSize Policy="Notify">{max_envelope_size}</w:MaxEnvelopeSize>',
            locales,
            "<w:ContentEncoding>UTF-16</w:ContentEncoding>",
            "</e:Delivery>",
            f'<w:Filter Dialect="{ns.FILTER_DIALECT}">{compact_query(sub.query)}</w:Filter>',
            _bookmark(offer),
            "<w:SendBookmarks/>",
            "</e:Subscribe></s:Body></s:Envelope></m:Subscription>",
        )
    )


def _rendered_offers(
    offers: Sequence[SubscriptionOffer],
    new_id: Callable[[], str],
    on_error: Callable[[SubscriptionOffer, LocalProtocolError], None] | None,
) -> Iterator[str]:
    for offer in offers:
        try:
            yield _subscription(offer, new_id)
        except LocalProtocolError as err:
            if on_error is None:
                raise
            on_error(offer, err)


def build_enumerate_response(
    request: Enumerate,
    offers: Sequence[SubscriptionOffer],
    *,
    message_id: str | None = None,
    new_id: Callable[[], str] = new_message_id,
    on_error: Callable[[SubscriptionOffer, LocalProtocolError], None] | None = None,
) -> str:
    """The EnumerateResponse offering ``offers`` (possibly none) to the source (§3.4).

    ``message_id`` fixes the response's own a:MessageID; ``new_id`` makes the ids of the
    inner Subscribe envelopes (tests pass a deterministic one).

    Each offer is rendered once, on its own. An offer that cannot be written raises
    :class:`LocalProtocolError`; with ``on_error``, it is passed to ``on_error`` instead and
    left out, and the response offers the others.

    The context is empty and ``w:EndOfSequence`` is present: everything is in this one
    response (DSP0226 §8.2.3). A non-empty context would make Windows fall back to Pull.
    """
    header = request.header
    items = "".join(_rendered_offers(offers, new_id, on_error))
    return (
        _ENVELOPE_OPEN
        + _outer_header(
            header.reply_to, ns.ACTION_ENUMERATE_RESPONSE, message_id or new_id(), header.message_id
        )
        + "<s:Body><n:EnumerateResponse><n:EnumerationContext/>"
        + f"<w:Items>{items}</w:Items><w:EndOfSequence/>"
        + "</n:EnumerateResponse></s:Body></s:Envelope>"
    )


def build_ack(request: Header, *, message_id: str | None = None) -> str:
    """The Ack for a Heartbeat or Events message (docs/protocol.md §3.6).

    ``a:RelatesTo`` repeats the request's MessageID exactly: Windows compares it
    case-sensitively (MS-WSMV §3.1.4.1.5).
    """
    return (
        _ENVELOPE_OPEN
        + _outer_header(request.reply_to, ns.ACTION_ACK, message_id or new_message_id(), request.message_id)
        + "<s:Body/></s:Envelope>"
    )
