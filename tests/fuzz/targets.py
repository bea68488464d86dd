# SPDX-License-Identifier: GPL-3.0-or-later
"""The fuzz targets: every parser that reads bytes a peer chose, and the one invariant each
must keep (after h11): *it parses, or it raises its own documented error, and nothing else*.

Each target takes raw bytes (so that hypothesis and a coverage-guided fuzzer can both drive
it), turns them into the parser's input, and raises :class:`InvariantBroken` (an
AssertionError) when the parser breaks its contract: any other exception, a result of the
wrong type, an output over its bound. "Never hangs" is checked by :func:`watchdog` around
each call (a generous alarm that turns a hang into a failure; it is no performance
assertion). Inputs are bounded in size by the callers.

| target | parser | documented error |
|---|---|---|
| ``envelope`` | ``wec.protocol.parse_message`` (SOAP envelope) | ``RemoteProtocolError`` (400/413) |
| ``multipart`` | ``wec.auth.multipart.parse_encrypted`` | ``DecryptError`` |
| ``proxy`` | ``wec.transport.proxy.read_proxy_header`` (v1 and v2) | ``ProxyHeaderError`` |
| ``sldc`` | ``accel.sldc.decompress`` | ``SldcError`` |
| ``event`` | ``wec.formats.event_xml.parse_event``, then every format | none: it never raises |
| ``relp`` | ``wec.outputs.relp_protocol.RelpClient`` (a RELP server's answers) | ``RelpError`` |
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import orjson

from accel.sldc import SldcError, decompress
from wec.auth.errors import DecryptError
from wec.auth.multipart import (
    KERBEROS_PROTOCOL,
    SPNEGO_PROTOCOL,
    EncryptedBody,
    build_encrypted,
    parse_encrypted,
)
from wec.formats import FORMAT_NAMES, get_format
from wec.formats.base import EventMeta
from wec.formats.event_xml import ParsedEvent, parse_event
from wec.outputs.relp_protocol import RelpClient, RelpError, Response, ServerClose
from wec.protocol import RemoteProtocolError, parse_message
from wec.protocol.messages import Message
from wec.transport.proxy import V2_SIGNATURE, ProxyHeaderError, ProxyInfo, read_proxy_header

__all__ = ["CONTENT_TYPES", "HANG_SECONDS", "TARGETS", "InvariantBroken", "seeds", "watchdog"]

# Far above any legitimate parse of the bounded inputs used here (milliseconds): only a hang
# or a pathological blow-up reaches it.
HANG_SECONDS = 20.0
SLDC_MAX_OUTPUT = 1 << 20

META = EventMeta(
    ip="192.0.2.10",
    time_received=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    principal="FUZZ$@WEC.TEST",
    subscription_uuid="9D4C2B7A-1E3F-4A58-8C6D-0B7E2F1A3C95",
    subscription_version="3F2A91C0-7D4E-8B12-3F2A-91C07D4E8B12",
    subscription_name="fuzz",
)


class InvariantBroken(AssertionError):
    """A parser did something its contract does not allow."""


@contextlib.contextmanager
def watchdog(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail (InvariantBroken) instead of hanging when the block runs over ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise InvariantBroken(f"no result after {seconds:g}s: the parser hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _unexpected(target: str, err: BaseException) -> InvariantBroken:
    return InvariantBroken(f"{target}: {type(err).__name__} escaped the parser: {err!r}")


# --- the targets ------------------------------------------------------------------------------


def envelope(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")  # lone surrogates reach the parser too
    try:
        message = parse_message(text, max_events=50)
    except RemoteProtocolError as err:
        if err.status not in (400, 413):
            raise InvariantBroken(f"envelope: RemoteProtocolError with status {err.status}") from err
        return
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("envelope", err) from err
    if not isinstance(message, Message):
        raise InvariantBroken(f"envelope: parse_message returned {type(message).__name__}")


CONTENT_TYPES = (
    f'multipart/encrypted;protocol="{KERBEROS_PROTOCOL}";boundary="Encrypted Boundary"',
    f'multipart/encrypted;protocol="{SPNEGO_PROTOCOL}";boundary="Encrypted Boundary"',
)


def multipart(data: bytes) -> None:
    """The first byte picks a Windows Content-Type, or (odd) takes the Content-Type from the
    bytes up to the first NUL; the rest is the body."""
    if not data:
        data = b"\x00"
    selector, rest = data[0], data[1:]
    if selector % 2 == 0:
        content_type = CONTENT_TYPES[(selector // 2) % 2]
        body = rest
    else:
        head, _, body = rest.partition(b"\x00")
        content_type = head.decode("latin-1")
    try:
        parsed = parse_encrypted(content_type, body)
    except DecryptError:
        return
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("multipart", err) from err
    if not isinstance(parsed, EncryptedBody):
        raise InvariantBroken(f"multipart: parse_encrypted returned {type(parsed).__name__}")
    if len(parsed.header) + len(parsed.data) > len(body):
        raise InvariantBroken("multipart: more token and ciphertext than body")


class _Trickle:
    """A socket file that returns at most ``step`` bytes per call, as a slow peer would."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def read(self, n: int, /) -> bytes:
        return self._stream.read(min(n, self._step))

    def readline(self, limit: int = -1, /) -> bytes:
        return self._stream.readline(limit)

    def tell(self) -> int:
        return self._stream.tell()


def proxy(data: bytes) -> None:
    """The first byte is the read size (1..16, as a slow peer); the rest is the stream."""
    step = (data[0] % 16) + 1 if data else 1
    stream = _Trickle(data[1:], step)
    try:
        info = read_proxy_header(stream)
    except ProxyHeaderError:
        return
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("proxy", err) from err
    if not isinstance(info, ProxyInfo) or len(info) != 2:
        raise InvariantBroken(f"proxy: read_proxy_header returned {info!r}")
    if (info.address is None) != (info.port is None):
        raise InvariantBroken(f"proxy: address and port disagree: {info!r}")
    if info.port is not None and not 0 <= info.port <= 65535:
        raise InvariantBroken(f"proxy: port out of range: {info!r}")
    if stream.tell() > 16 + 65535:  # v2's bound: the header never reads the request behind it
        raise InvariantBroken("proxy: read past any possible header")


def sldc(data: bytes) -> None:
    try:
        out = decompress(data, max_output=SLDC_MAX_OUTPUT)
    except SldcError:
        return
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("sldc", err) from err
    if not isinstance(out, bytes) or len(out) > SLDC_MAX_OUTPUT:
        raise InvariantBroken(f"sldc: {type(out).__name__} of {len(out)} bytes, cap {SLDC_MAX_OUTPUT}")


def event(data: bytes) -> None:
    """parse_event never raises; every format then serialises the result (or drops it with
    None), and the JSON formats write valid JSON."""
    raw = data.decode("utf-8", "surrogateescape")
    try:
        parsed = parse_event(raw)
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("event", err) from err
    if not isinstance(parsed, ParsedEvent):
        raise InvariantBroken(f"event: parse_event returned {type(parsed).__name__}")
    if parsed.error is not None and parsed.error.original_content != raw:
        raise InvariantBroken("event: the original text of an unreadable event was not kept")
    for name in FORMAT_NAMES:
        fmt = get_format(name)
        try:
            record = fmt.format(raw, parsed if fmt.needs_parse else None, META)
        except InvariantBroken:
            raise
        except Exception as err:
            raise _unexpected(f"event (format {name})", err) from err
        if record is None or name == "Raw":
            continue
        try:
            orjson.loads(record)
        except orjson.JSONDecodeError as err:
            raise InvariantBroken(f"event: format {name} wrote invalid JSON: {record[:200]!r}") from err


_RELP_OPEN_OK = b"1 rsp 53 200 OK\nrelp_version=0\ncommands=syslog\nrelp_software=x"


def relp(data: bytes) -> None:
    """A session that sent ``open`` and 3 messages (window 2 after the first answer) reads
    ``data`` as the server's bytes, cut in two at the position the first byte says."""
    client = RelpClient(window=4)
    client.open()
    cut = data[0] if data else 0
    stream = data[1:]
    try:
        for chunk in (stream[:cut], stream[cut:]):
            for ev in client.receive_data(chunk):
                if not isinstance(ev, Response | ServerClose):
                    raise InvariantBroken(f"relp: unexpected event {ev!r}")
                if client.can_send:
                    client.syslog(b"m")
    except RelpError:
        return
    except InvariantBroken:
        raise
    except Exception as err:
        raise _unexpected("relp", err) from err
    if client.unanswered > client.window:
        raise InvariantBroken("relp: more frames in flight than the window")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "multipart": multipart,
    "proxy": proxy,
    "sldc": sldc,
    "event": event,
    "relp": relp,
}


# --- seeds: valid inputs to mutate --------------------------------------------------------------


def _envelope_seeds() -> list[bytes]:
    from tests.protocol import envelopes

    return [m.encode("utf-8") for m in envelopes.all_valid_messages()]


def _event_seeds() -> list[bytes]:
    from tests.accel.events import event_xml as accel_event
    from tests.formats.factory import generated_events

    rng = random.Random(7)
    events = generated_events(12) + [accel_event(rng, i, cjk=i % 2 == 1) for i in range(4)]
    return [e.encode("utf-8") for e in events]


def _multipart_seeds() -> list[bytes]:
    seeds = []
    for selector, protocol in ((0, KERBEROS_PROTOCOL), (2, SPNEGO_PROTOCOL)):
        _, body = build_encrypted(protocol, b"\x05\x04" + b"H" * 58, b"ciphertext" * 3, 24)
        seeds.append(bytes([selector]) + body)
    content_type, body = build_encrypted(KERBEROS_PROTOCOL, b"h" * 60, b"--Encrypted Boundary", 3)
    seeds.append(b"\x01" + content_type.encode("latin-1") + b"\x00" + body)
    return seeds


def _proxy_seeds() -> list[bytes]:
    v2_tcp4 = V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b"\x1f\x90\x00\x50"
    v2_tcp6 = (
        V2_SIGNATURE + b"\x21\x21\x00\x24" + bytes(range(16)) + bytes(range(16, 32)) + b"\x1f\x90\x00\x50"
    )
    v2_local = V2_SIGNATURE + b"\x20\x00\x00\x00"
    return [
        b"\x03PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\nPOST /wsman HTTP/1.1\r\n",
        b"\x00PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n",
        b"\x0fPROXY UNKNOWN\r\n",
        b"\x05" + v2_tcp4 + b"GET / HTTP/1.1\r\n",
        b"\x02" + v2_tcp6,
        b"\x07" + v2_local,
    ]


def _sldc_seeds() -> list[bytes]:
    from wec.sim.sldc import compress

    texts = [e.decode("utf-8").encode("utf-16-le") for e in _event_seeds()[:4]]
    return [compress(t) for t in texts] + [
        compress(texts[0], scheme2=True),
        compress(b"", windows_framing=True),
    ]


def _relp_seeds() -> list[bytes]:
    answers = b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 17 500 data too long\n0 serverclose 0\n"
    return [
        bytes([len(_RELP_OPEN_OK) // 2]) + _RELP_OPEN_OK + b"\n" + answers,
        b"\x05" + _RELP_OPEN_OK + b"\n",
    ]


_SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "envelope": _envelope_seeds,
    "multipart": _multipart_seeds,
    "proxy": _proxy_seeds,
    "sldc": _sldc_seeds,
    "event": _event_seeds,
    "relp": _relp_seeds,
}


def seeds(target: str) -> list[bytes]:
    """Valid inputs of ``target`` (the starting points of mutation)."""
    return _SEEDS[target]()
