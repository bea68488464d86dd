# SPDX-License-Identifier: GPL-3.0-or-later
"""The client side of RELP, the Reliable Event Logging Protocol, without any I/O.

Theory of operation. RELP (librelp's specification, spoken by rsyslog's ``imrelp``) carries
syslog messages over one TCP stream and acknowledges each of them. Every frame is::

    TXNR SP COMMAND SP DATALEN [SP DATA] LF

``TXNR`` is the transaction number (1 to 999 999 999, then 1 again; 0 only in the server's
unsolicited ``serverclose``), ``COMMAND`` 1 to 32 letters, ``DATALEN`` the length of
``DATA`` in octets (at most 9 digits); ``DATA`` is absent when ``DATALEN`` is 0, and the
trailing LF is there to catch framing errors. The client sends ``open`` (its offers:
``relp_version``, ``relp_software``, ``commands=syslog``), then ``syslog`` frames, then
``close``; the server answers each with an ``rsp`` frame carrying the same TXNR and
``CODE [SP TEXT] [LF DATA]`` (200 OK, 500 error). The client may have up to *window* frames
without an answer; it knows which messages the server holds from the answers alone.

Everything that touches the session's state lives here: :class:`RelpClient` turns commands
into bytes and received bytes into :class:`Response` / :class:`ServerClose` events, and
raises :class:`RelpProtocolError` (the peer's mistake) for anything the specification does
not allow: malformed frames, oversized ones, answers to transactions never sent. The driver
(``wec.outputs.relp``) owns the socket and decides what to retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "MAX_TXNR",
    "Frame",
    "FrameParser",
    "RelpClient",
    "RelpError",
    "RelpProtocolError",
    "Response",
    "ServerClose",
    "SessionState",
    "encode_frame",
    "parse_offers",
    "parse_response",
]

MAX_TXNR = 999_999_999
RELP_VERSION = "0"
# Answers are small (a code, a text, the server's offers): anything larger is not RELP.
DEFAULT_MAX_DATA = 64 * 1024

_HEADER = re.compile(rb"(\d{1,9}) ([A-Za-z]{1,32}) (\d{1,9})([ \n])")
# What the start of a frame may look like before its header is complete.
_HEADER_PREFIX = re.compile(rb"\d{0,9}|\d{1,9} [A-Za-z]{0,32}|\d{1,9} [A-Za-z]{1,32} \d{0,9}")
_HEADER_MAX = 9 + 1 + 32 + 1 + 9 + 1
_RSP = re.compile(rb"(\d{3})(?: ([^\n]*))?(?:\n(.*))?", re.S)


class RelpError(Exception):
    """A RELP session cannot go on (the base of this module's errors)."""


class RelpProtocolError(RelpError):
    """The server sent something RELP does not allow; the session must be dropped."""


@dataclass(frozen=True)
class Frame:
    """One RELP frame, as sent or received."""

    txnr: int
    command: str
    data: bytes = b""


@dataclass(frozen=True)
class Response:
    """The server's answer to one of our frames."""

    txnr: int
    command: str  # the command it answers ("open", "syslog", "close")
    code: int  # 200 OK; anything else is a refusal
    text: str  # the human-readable message after the code
    data: bytes  # what follows the first LF (the server's offers, for "open")

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(frozen=True)
class ServerClose:
    """The server announced it is closing the session (``0 serverclose 0``)."""


Event = Response | ServerClose


def encode_frame(txnr: int, command: str, data: bytes = b"") -> bytes:
    """One frame's bytes; refuses what would not parse on the other side."""
    if not 0 <= txnr <= MAX_TXNR:
        raise ValueError(f"RELP transaction number out of range: {txnr}")
    if not 1 <= len(command) <= 32 or not command.isascii() or not command.isalpha():
        raise ValueError(f"invalid RELP command {command!r}")
    if len(data) > MAX_TXNR:
        raise ValueError(f"RELP data too long: {len(data)} octets")
    if not data:
        return b"%d %s 0\n" % (txnr, command.encode("ascii"))
    return b"%d %s %d %s\n" % (txnr, command.encode("ascii"), len(data), data)


class FrameParser:
    """Cuts a received byte stream into frames; bounded in memory by ``max_data``."""

    def __init__(self, max_data: int = DEFAULT_MAX_DATA) -> None:
        self.max_data = max_data
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Octets received that do not make a complete frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Every complete frame in ``data`` (with what was left from before), in order."""
        self._buffer += data
        frames = []
        while self._buffer:
            frame = self._next()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        buf = self._buffer
        m = _HEADER.match(buf)
        if m is None:
            head = bytes(buf[:_HEADER_MAX])
            if len(buf) < _HEADER_MAX and _HEADER_PREFIX.fullmatch(head):
                return None  # a header still arriving
            raise RelpProtocolError(f"malformed RELP frame header: {head[:60]!r}")
        txnr, command, datalen = int(m[1]), m[2].decode("ascii"), int(m[3])
        start = m.end()
        if datalen == 0:
            if m[4] == b" ":
                # "TXNR CMD 0 LF" is the form; a space before the LF is tolerated.
                if len(buf) <= start:
                    return None
                if buf[start] != 0x0A:
                    raise RelpProtocolError(f"RELP frame {txnr} {command}: data after DATALEN 0")
                start += 1
            del buf[:start]
            return Frame(txnr, command)
        if m[4] != b" ":
            raise RelpProtocolError(f"RELP frame {txnr} {command}: DATALEN {datalen} but no data")
        if datalen > self.max_data:
            raise RelpProtocolError(
                f"RELP frame {txnr} {command}: {datalen} octets of data, over the limit ({self.max_data})"
            )
        end = start + datalen
        if len(buf) <= end:
            return None
        if buf[end] != 0x0A:
            raise RelpProtocolError(f"RELP frame {txnr} {command}: the trailer is not LF (wrong DATALEN?)")
        data = bytes(buf[start:end])
        del buf[: end + 1]
        return Frame(txnr, command, data)


def parse_response(frame: Frame, command: str) -> Response:
    """The ``rsp`` frame ``frame`` as the answer to ``command``."""
    m = _RSP.fullmatch(frame.data)
    if m is None:
        raise RelpProtocolError(f"RELP rsp {frame.txnr}: no status code in {frame.data[:60]!r}")
    text = (m[2] or b"").decode("utf-8", "replace").strip()
    return Response(frame.txnr, command, int(m[1]), text, m[3] or b"")


def parse_offers(data: bytes) -> dict[str, str]:
    """``name=value`` lines (the ``open`` offers) as a dict; a bare name has the value ""."""
    offers: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        if line.strip():
            name, _, value = line.partition("=")
            offers[name.strip()] = value.strip()
    return offers


class SessionState(Enum):
    IDLE = "idle"  # nothing sent yet
    OPENING = "opening"  # "open" sent, its answer not yet received
    OPEN = "open"
    CLOSING = "closing"  # "close" sent
    CLOSED = "closed"  # the session is over (closed, refused or broken)


class RelpClient:
    """One RELP session, client side: frames out, events in, no sockets.

    ``window`` is the number of frames that may await an answer; :attr:`can_send` says whether
    another ``syslog`` frame fits.
    """

    def __init__(self, *, window: int = 128, software: str = "wec", max_data: int = DEFAULT_MAX_DATA) -> None:
        if window < 1:
            raise ValueError(f"RELP window must be at least 1, got {window}")
        self.window = window
        self.software = software
        self.state = SessionState.IDLE
        self.server_offers: dict[str, str] = {}
        self._parser = FrameParser(max_data)
        self._next_txnr = 1
        self._pending: dict[int, str] = {}  # TXNR → command, awaiting an rsp

    @property
    def unanswered(self) -> int:
        return len(self._pending)

    @property
    def can_send(self) -> bool:
        return self.state is SessionState.OPEN and len(self._pending) < self.window

    def _frame(self, command: str, data: bytes = b"") -> tuple[int, bytes]:
        txnr = self._next_txnr
        self._next_txnr = txnr + 1 if txnr < MAX_TXNR else 1
        if txnr in self._pending:  # a billion frames in flight: impossible with any window
            raise RelpError(f"RELP transaction number {txnr} is still awaiting its answer")
        self._pending[txnr] = command
        return txnr, encode_frame(txnr, command, data)

    def open(self) -> bytes:
        if self.state is not SessionState.IDLE:
            raise RelpError(f"cannot open a RELP session that is {self.state.value}")
        offers = f"relp_version={RELP_VERSION}\nrelp_software={self.software}\ncommands=syslog"
        self.state = SessionState.OPENING
        return self._frame("open", offers.encode("utf-8"))[1]

    def syslog(self, message: bytes) -> tuple[int, bytes]:
        """The frame carrying one syslog message, and its TXNR (to match the answer)."""
        if self.state is not SessionState.OPEN:
            raise RelpError(f"cannot send on a RELP session that is {self.state.value}")
        if len(self._pending) >= self.window:
            raise RelpError("the RELP window is full")
        return self._frame("syslog", message)

    def close(self) -> bytes:
        if self.state is not SessionState.OPEN:
            raise RelpError(f"cannot close a RELP session that is {self.state.value}")
        self.state = SessionState.CLOSING
        return self._frame("close")[1]

    def receive_data(self, data: bytes) -> list[Event]:
        """The events in ``data``; raises :class:`RelpProtocolError` (and the session is over)
        for anything RELP does not allow."""
        try:
            return [self._event(frame) for frame in self._parser.feed(data)]
        except RelpError:
            self.state = SessionState.CLOSED
            raise

    def _event(self, frame: Frame) -> Event:
        if frame.command == "serverclose":
            self.state = SessionState.CLOSED
            return ServerClose()
        if frame.command != "rsp":
            raise RelpProtocolError(f"unexpected RELP command from the server: {frame.command!r}")
        command = self._pending.pop(frame.txnr, None)
        if command is None:
            raise RelpProtocolError(f"RELP rsp {frame.txnr} answers no frame we sent")
        if command == "close":
            # The answer to "close" may carry no code at all ("N rsp 0").
            self.state = SessionState.CLOSED
            return Response(frame.txnr, command, 200, "", b"")
        response = parse_response(frame, command)
        if command == "open":
            if not response.ok:
                self.state = SessionState.CLOSED
                return response
            self.server_offers = parse_offers(response.data)
            commands = self.server_offers.get("commands")
            if commands is not None and "syslog" not in (c.strip() for c in commands.split(",")):
                self.state = SessionState.CLOSED
                raise RelpProtocolError(f"the RELP server does not offer 'syslog' (commands={commands})")
            self.state = SessionState.OPEN
        return response
