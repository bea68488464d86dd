# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny, test-only WEC collector for exercising the simulator over real sockets.

Deliberately independent of both the simulator and the server (no ``wec.auth``,
``wec.protocol``, ``wec.transport``): python-gssapi accepts and unwraps, lxml parses, and the
replies are written by hand from docs/protocol.md §3.4/§3.6/§4. It keeps one GSS context per TCP
connection (``http.server`` keeps one handler object per connection) and records everything the
source sent so tests can check it.

Behaviour knobs: ``fail_first_attempts`` answers 503 to the first N attempts of every Events
batch (a batch = its tuple of event keys), ``status_script`` forces statuses for the next
requests, ``end_status`` answers End with 200 or 204.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gssapi
import gssapi.raw as gss_raw
from lxml import etree

from wec.sim.events import EventKey, key_from_xml

S = "http://www.w3.org/2003/05/soap-envelope"
A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
E = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
ACT = {
    "enumerate": "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
    "end": "http://schemas.microsoft.com/wbem/wsman/1/wsman/End",
    "heartbeat": "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat",
    "events": "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events",
    "subscription_end": "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd",
}
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
KRB5_OID_PREFIX = bytes.fromhex("06092a864886f712010202")


@dataclass
class FakeSubscription:
    uuid: str
    name: str
    version: str = "3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12"
    channels: tuple[str, ...] = ("Security", "System", "Application")
    compression: bool = False
    content_format: str = "Raw"
    max_elements: int | None = None
    read_existing_events: bool = False


@dataclass
class Received:
    """One request the collector decoded."""

    path: str
    principal: str | None
    headers: list[tuple[str, str]]
    wire_body: bytes
    cleartext: bytes  # after unwrap, before SLDC decoding
    soap: bytes  # the UTF-16 SOAP (after SLDC decoding)
    action: str
    status: int


@dataclass
class CollectorState:
    subscriptions: list[FakeSubscription]
    keytab: Path | None  # None = plain HTTP
    fail_first_attempts: int = 0
    end_status: int = 200
    status_script: list[int] = field(default_factory=list)
    bookmarks: dict[tuple[str, str], str] = field(default_factory=dict)  # (principal, uuid) -> BookmarkList
    events: list[tuple[str | None, str, str]] = field(default_factory=list)  # (principal, uuid, event xml)
    requests: list[Received] = field(default_factory=list)
    attempts: Counter[tuple[EventKey | None, ...]] = field(default_factory=Counter)
    auth_headers: list[list[tuple[str, str]]] = field(default_factory=list)
    connections: int = 0
    failures: list[str] = field(default_factory=list)  # exceptions (failed checks) in the handler
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_keys(self) -> list[EventKey | None]:
        return [key_from_xml(x) for _, _, x in self.events]


def _sldc_decode(data: bytes) -> bytes:
    from tests.support.sldc_ref import decompress

    return decompress(data, max_output=100 * len(data) + 4096)


def _split_multipart(body: bytes) -> tuple[bytes, bytes, int]:
    marker = b"Content-Type: application/octet-stream\r\n"
    head, _, payload = body.partition(marker)
    length = int(head.split(b"Length=")[1].split(b"\r\n")[0])
    closing = b"--Encrypted Boundary--\r\n"
    assert payload.endswith(closing), "closing delimiter missing"
    payload = payload[: -len(closing)]
    h = int.from_bytes(payload[:4], "little")
    return payload[4 : 4 + h], payload[4 + h :], length


def _text(v: str) -> str:
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _enumerate_response(
    relates_to: str, host: str, subs: list[FakeSubscription], bookmarks: dict[str, str]
) -> str:
    items = []
    for s in subs:
        addr = f"http://{host}/wsman/subscriptions/{s.uuid}"
        refs = (
            f"<a:ReferenceParameters><e:Identifier>{s.uuid}</e:Identifier><Version>{s.version}</Version>"
            "</a:ReferenceParameters>"
        )
        query = (
            '<QueryList><Query Id="0">'
            + "".join(f'<Select Path="{c}">*</Select>' for c in s.channels)
            + "</Query></QueryList>"
        )
        opts = (
            f'<w:Option Name="SubscriptionName">{_text(s.name)}</w:Option>'
            + ('<w:Option Name="Compression">SLDC</w:Option>' if s.compression else "")
            + '<w:Option Name="CDATA" xsi:nil="true"/>'
            f'<w:Option Name="ContentFormat">{s.content_format}</w:Option>'
            '<w:Option Name="IgnoreChannelError" xsi:nil="true"/>'
            + ('<w:Option Name="ReadExistingEvents" xsi:nil="true"/>' if s.read_existing_events else "")
        )
        if s.uuid in bookmarks:
            bookmark = f"<w:Bookmark>{bookmarks[s.uuid]}</w:Bookmark>"
        elif s.read_existing_events:
            bookmark = "<w:Bookmark>http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest</w:Bookmark>"
        else:
            bookmark = ""
        max_el = f"<w:MaxElements>{s.max_elements}</w:MaxElements>" if s.max_elements else ""
        items.append(
            '<m:Subscription xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription">'
            f"<m:Version>uuid:{s.version}</m:Version>"
            f'<s:Envelope xmlns:s="{S}" xmlns:a="{A}" xmlns:e="{E}" xmlns:w="{W}" '
            'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header>'
            f'<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action>'
            '<w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>'
            f'<w:OptionSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{opts}</w:OptionSet>'
            "</s:Header><s:Body><e:Subscribe>"
            f"<e:EndTo><a:Address>{addr}</a:Address>{refs}</e:EndTo>"
            '<e:Delivery Mode="http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"><w:Heartbeats>PT3600.000S</w:Heartbeats>'
            f"<e:NotifyTo><a:Address>{addr}</a:Address>{refs}"
            '<c:Policy xmlns:c="http://schemas.xmlsoap.org/ws/2002/12/policy" '
            'xmlns:auth="http://schemas.microsoft.com/wbem/wsman/1/authentication"><c:ExactlyOne><c:All>'
            '<auth:Authentication Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/'
            'spnego-kerberos"/>'
            "</c:All></c:ExactlyOne></c:Policy></e:NotifyTo>"
            f'<w:ConnectionRetry Total="5">PT60.0S</w:ConnectionRetry>{max_el}'
            "<w:MaxTime>PT30.000S</w:MaxTime>"
            '<w:MaxEnvelopeSize Policy="Notify">512000</w:MaxEnvelopeSize>'
            "<w:ContentEncoding>UTF-16</w:ContentEncoding>"
            "</e:Delivery>"
            f'<w:Filter Dialect="http://schemas.microsoft.com/win/2004/08/events/eventquery">{query}</w:Filter>'
            f"{bookmark}<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope></m:Subscription>"
        )
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{S}" xmlns:a="{A}" '
        'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
        f'xmlns:w="{W}" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header>'
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        '<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action>'
        "<a:MessageID>uuid:0E5D8A41-93B2-4C6F-A1D7-5B2F9C3E7A10</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse>"
        f"<n:EnumerationContext/><w:Items>{''.join(items)}</w:Items><w:EndOfSequence/>"
        "</n:EnumerateResponse></s:Body></s:Envelope>"
    )


def _ack(relates_to: str) -> str:
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{S}" xmlns:a="{A}"><s:Header>'
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        '<a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action>'
        "<a:MessageID>uuid:7C0B4E92-5F1A-4D3C-B8E6-2A9D0F4C6B18</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body/></s:Envelope>"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.ctx: gssapi.SecurityContext | None = None
        self.principal: str | None = None
        self.protocol_name = "application/HTTP-Kerberos-session-encrypted"
        with self.server.state.lock:
            self.server.state.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", extra: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for k, v in extra or []:
            self.send_header(k, v)
        if body and self.ctx is not None:
            iov = gss_raw.IOV(
                gss_raw.IOVBufferType.header, body, gss_raw.IOVBufferType.padding, std_layout=False
            )
            gss_raw.wrap_iov(self.ctx, iov, confidential=True)
            header, data = iov[0].value or b"", (iov[1].value or b"") + (iov[2].value or b"")
            wire = (
                (
                    f"--Encrypted Boundary\r\nContent-Type: {self.protocol_name}\r\n"
                    f"OriginalContent: type=application/soap+xml;charset=UTF-16;Length={len(body)}\r\n"
                    "--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n"
                ).encode()
                + len(header).to_bytes(4, "little")
                + header
                + data
                + b"--Encrypted Boundary--\r\n"
            )
            self.send_header(
                "Content-Type",
                f'multipart/encrypted;protocol="{self.protocol_name}";boundary="Encrypted Boundary"',
            )
            body = wire
        elif body:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-16")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        try:
            self._post()
        except Exception as err:  # surfaced to the test through state.failures
            with self.server.state.lock:
                self.server.state.failures.append(repr(err))
            raise

    def _post(self) -> None:
        st = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        wire = self.rfile.read(length)
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, b64 = auth.partition(" ")
            token = base64.b64decode(b64)
            creds = gssapi.Credentials(usage="accept", store={"keytab": str(st.keytab)})
            self.ctx = gssapi.SecurityContext(creds=creds, usage="accept")
            out = self.ctx.step(token)
            assert self.ctx.complete
            self.principal = str(self.ctx.initiator_name)
            if scheme == "Negotiate":
                self.protocol_name = "application/HTTP-SPNEGO-session-encrypted"
            with st.lock:
                st.auth_headers.append(list(self.headers.items()))
            assert not wire
            self._reply(200, b"", [("WWW-Authenticate", f"{scheme} {base64.b64encode(out or b'').decode()}")])
            return
        if not wire:
            self._reply(200 if st.keytab is None else 401)
            return
        if st.keytab is not None:
            assert self.ctx is not None, "encrypted body on an unauthenticated connection"
            assert self.headers.get("Content-Type", "").startswith("multipart/encrypted;protocol=")
            header, ciphertext, original_length = _split_multipart(wire)
            iov = gss_raw.IOV((gss_raw.IOVBufferType.header, False, header), ciphertext, std_layout=False)
            gss_raw.unwrap_iov(self.ctx, iov)
            cleartext = iov[1].value or b""
            assert original_length == len(cleartext)
        else:
            cleartext = wire
        soap = cleartext
        if self.headers.get("Content-Encoding") == "SLDC" and not cleartext.startswith(b"\xff\xfe"):
            soap = _sldc_decode(cleartext)
        text = soap.decode("utf-16")
        try:
            root = etree.fromstring(
                text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
            )
        except etree.XMLSyntaxError:  # docs/protocol.md §3.8: characters illegal in XML become \u{5}
            text = _ILLEGAL.sub(lambda m: f"\\u{{{ord(m.group(0)):x}}}", text)
            root = etree.fromstring(
                text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
            )
        hdr = root.find(f"{{{S}}}Header")
        action = hdr.findtext(f"{{{A}}}Action")
        message_id = hdr.findtext(f"{{{A}}}MessageID")
        status = 200
        reply = b""
        with st.lock:
            if st.status_script:
                status = st.status_script.pop(0)
            if status == 200 and action == ACT["enumerate"]:
                bms = {u: bm for (p, u), bm in st.bookmarks.items() if p == self.principal}
                reply = b"\xff\xfe" + _enumerate_response(
                    message_id, self.headers["Host"], st.subscriptions, bms
                ).encode("utf-16-le")
            elif status == 200 and action == ACT["end"]:
                status = st.end_status
            elif status == 200 and action in (ACT["heartbeat"], ACT["events"]):
                ident = hdr.findtext(f"{{{E}}}Identifier")
                assert hdr.findtext("Version"), "Version reference parameter not echoed"
                if action == ACT["events"]:
                    events = [e.text or "" for e in root.iter(f"{{{W}}}Event")]
                    batch = tuple(key_from_xml(x) for x in events)
                    st.attempts[batch] += 1
                    if st.attempts[batch] <= st.fail_first_attempts:
                        status = 503
                    else:
                        bm = hdr.find(f"{{{W}}}Bookmark")
                        st.bookmarks[(self.principal or "", ident or "")] = etree.tostring(
                            bm[0], encoding="unicode"
                        )
                        st.events.extend((self.principal, ident or "", x) for x in events)
                if status == 200:
                    reply = b"\xff\xfe" + _ack(message_id).encode("utf-16-le")
            st.requests.append(
                Received(
                    self.path,
                    self.principal,
                    list(self.headers.items()),
                    wire,
                    cleartext,
                    soap,
                    action or "",
                    status,
                )
            )
        self._reply(status, reply)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: CollectorState


class FakeCollector:
    """Start with ``with FakeCollector(state) as fc:``; ``fc.port`` is a free loopback port."""

    def __init__(self, state: CollectorState) -> None:
        self.state = state
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = state
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
