# SPDX-License-Identifier: GPL-3.0-or-later
"""The Relp driver (a wec addition): events as syslog messages over RELP, each acknowledged.

Why. Plain TCP cannot tell whether the receiver read what the kernel accepted
(docs/outputs.md, "The limit of plain TCP"). RELP answers every message: a batch is accepted
only when the receiver answered ``200 OK`` to every one of its messages.

Delivery. One session (TCP, optionally TLS) is kept open between batches. A batch's messages
are sent in a window of at most ``window`` unanswered frames (the protocol is in
:mod:`wec.outputs.relp_protocol`); when the session breaks under a batch (the receiver
restarted, announced ``serverclose``, reset the connection), a new session is opened at once
and the messages not yet acknowledged are sent again, at most :data:`RESENDS` times per batch.
A receiver that refuses connections, refuses a message (an answer other than 200), breaks the
protocol, or does not finish within ``timeout`` seconds fails the batch with
:class:`OutputError`: the collector answers 503 and the source sends the batch again.
Messages answered before a failure may arrive twice (at-least-once, like every output).

Threads. The server calls :meth:`RelpDriver.write` from many threads; one lock per driver
serialises the batches on the session.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any

from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import ConfigReader, DriverContext
from wec.outputs.relp_protocol import RelpClient, RelpError, Response, ServerClose
from wec.outputs.syslog import NIL, SyslogConfig, structured_data, syslog_message
from wec.outputs.tcp import _tls_context

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_WINDOW", "RESENDS", "RelpDriver"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_WINDOW = 128  # librelp's own default
RESENDS = 2  # new sessions per batch after the first one broke
_CLOSE_WAIT = 2.0  # at most this long for the answer to "close" when the driver closes
_KEYS = (
    "host", "addr", "port", "tls_enabled", "tls_certificate_authorities", "tls_certificate",
    "tls_key", "syslog", "timeout", "window",
)  # fmt: skip


class _SessionLost(Exception):
    """The session broke under a batch: worth a new one."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer within {self.seconds:g}s")
        return left


class _Session:
    """A connected socket and its RELP state."""

    def __init__(self, sock: socket.socket, client: RelpClient) -> None:
        self.sock = sock
        self.client = client

    def send(self, data: bytes, deadline: _Deadline) -> None:
        self.sock.settimeout(deadline.remaining())
        self.sock.sendall(data)  # the timeout bounds the whole call (Python >= 3.5)

    def receive(self, deadline: _Deadline) -> list[Response | ServerClose]:
        self.sock.settimeout(deadline.remaining())
        data = self.sock.recv(65536)
        if not data:
            raise _SessionLost("the receiver closed the connection")
        return self.client.receive_data(data)

    def close(self) -> None:
        self.sock.close()


class RelpDriver:
    """See the module docstring. Build it with :meth:`from_config`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        syslog: SyslogConfig | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        window: int = DEFAULT_WINDOW,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.syslog = syslog
        self.timeout = timeout
        self.window = window
        self._tls = tls
        self._tls_files: tuple[tuple[str, ...], str | None, str | None] | None = None
        self._log = logger or logging.getLogger("wec.outputs.relp")
        self._lock = threading.Lock()
        self._session: _Session | None = None
        self._closed = False

    @classmethod
    def from_config(cls, config: dict[str, Any], *, context: DriverContext) -> RelpDriver:
        r = ConfigReader("Relp", config)
        r.check_keys(_KEYS)
        host, addr = r.string("host"), r.string("addr")
        if host is not None and addr is not None and host != addr:
            raise ValueError(f"Relp: 'host' ({host!r}) and its alias 'addr' ({addr!r}) disagree")
        target = host or addr
        if target is None:
            raise ValueError("Relp: config key 'host' (alias 'addr') is required")
        port = r.integer("port", minimum=1, maximum=65535, required=True)
        assert port is not None
        syslog_table = r.table("syslog")
        syslog = SyslogConfig.from_table(syslog_table, "Relp") if syslog_table is not None else None
        window = r.integer("window", DEFAULT_WINDOW, minimum=1, maximum=100_000)
        assert window is not None
        driver = cls(
            target,
            port,
            syslog=syslog,
            timeout=r.number("timeout", DEFAULT_TIMEOUT),
            window=window,
            logger=context.logger,
        )
        if r.boolean("tls_enabled", False):
            cafiles = r.string_list("tls_certificate_authorities")
            certificate, key = r.string("tls_certificate"), r.string("tls_key")
            if key is not None and certificate is None:
                raise ValueError("Relp: 'tls_key' is set but 'tls_certificate' is not")
            driver._tls_files = (cafiles, certificate, key)
            if context.check_only:  # the files live on the collector, maybe not where we check
                return driver
            try:
                driver._tls = _tls_context(cafiles, certificate, key)
            except (OSError, ssl.SSLError) as err:
                raise ValueError(f"Relp: cannot load the TLS files: {err}") from err
        elif any(r.has(k) for k in ("tls_certificate_authorities", "tls_certificate", "tls_key")):
            raise ValueError("Relp: tls_* keys are set but tls_enabled is not true")
        return driver

    @property
    def _name(self) -> str:
        return f"Relp output {self.host}:{self.port}"

    # --- encoding ------------------------------------------------------------------------------

    def messages(self, batch: OutputBatch) -> list[bytes]:
        """One syslog message per record (RELP frames them: no other framing is needed)."""
        if self.syslog is None:
            return list(batch.records)
        config = self.syslog
        sd = structured_data(batch.meta, config.sd_id) if config.structured_data else NIL
        return [syslog_message(r, config, sd) for r in batch.records]

    # --- sessions ------------------------------------------------------------------------------

    def _open(self, deadline: _Deadline) -> _Session:
        sock = socket.create_connection((self.host, self.port), timeout=deadline.remaining())
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            session = _Session(sock, RelpClient(window=self.window))
            session.send(session.client.open(), deadline)
            while True:
                for event in session.receive(deadline):
                    if isinstance(event, ServerClose):
                        raise _SessionLost("the receiver closed the session while opening it")
                    if event.command == "open":
                        if not event.ok:
                            raise RelpError(f"the receiver refused the session: {event.code} {event.text}")
                        return session
        except BaseException:
            sock.close()
            raise

    def _drop(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _check_idle_session(self) -> None:
        """Drop the session if the receiver closed it since the last batch (it announces a
        shutdown with ``serverclose``); anything else it sent between batches is an error."""
        session = self._session
        if session is None:
            return
        try:
            readable, _, _ = select.select([session.sock], [], [], 0)
            if not readable:
                return
            session.sock.setblocking(False)
            try:
                data = session.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                return  # TLS 1.3 session tickets: readable without application data
            if not data:
                raise _SessionLost("the receiver closed the connection")
            events = session.client.receive_data(data)
            if events:
                raise _SessionLost(f"the receiver sent {events[0]!r} between batches")
        except (OSError, RelpError, _SessionLost) as err:
            self._log.info("%s: %s; opening a new session", self._name, err)
            self._drop()

    def _send(self, session: _Session, messages: list[bytes], todo: set[int], deadline: _Deadline) -> None:
        """Send the messages whose index is in ``todo``, removing each once it is answered 200."""
        client = session.client
        queue = deque(sorted(todo))
        in_flight: dict[int, int] = {}  # TXNR → message index
        while queue or in_flight:
            out = bytearray()
            while queue and client.can_send:
                index = queue.popleft()
                txnr, frame = client.syslog(messages[index])
                in_flight[txnr] = index
                out += frame
            if out:
                session.send(bytes(out), deadline)
            for event in session.receive(deadline):
                if isinstance(event, ServerClose):
                    raise _SessionLost("the receiver is closing the session (serverclose)")
                index = in_flight.pop(event.txnr)
                if not event.ok:
                    refused = f"event {index + 1} of {len(messages)}: {event.code} {event.text}"
                    raise RelpError(f"the receiver refused {refused}")
                todo.discard(index)

    # --- the Driver contract -------------------------------------------------------------------

    def write(self, batch: OutputBatch) -> None:
        if not batch.records:
            return
        messages = self.messages(batch)
        todo = set(range(len(messages)))
        with self._lock:
            if self._closed:
                raise OutputError(f"{self._name} is closed")
            deadline = _Deadline(self.timeout)
            self._check_idle_session()
            for attempt in range(RESENDS + 1):
                try:
                    if self._session is None:
                        self._session = self._open(deadline)
                    self._send(self._session, messages, todo, deadline)
                    return
                except (_SessionLost, OSError) as err:  # resets, timeouts and TLS errors too
                    self._drop()
                    if isinstance(err, TimeoutError | ConnectionRefusedError) or attempt == RESENDS:
                        raise self._failure(messages, todo, err) from err
                    self._log.info(
                        "%s: session lost (%s); resending %d unacknowledged event(s) on a new one",
                        self._name,
                        err,
                        len(todo),
                    )
                except RelpError as err:
                    self._drop()
                    raise self._failure(messages, todo, err) from err

    def _failure(self, messages: list[bytes], todo: set[int], err: BaseException) -> OutputError:
        reason = f"no answer within {self.timeout:g}s" if isinstance(err, TimeoutError) else str(err)
        return OutputError(
            f"{self._name}: {len(todo)} of {len(messages)} event(s) not acknowledged: "
            f"{reason or type(err).__name__}"
        )

    def reopen(self) -> None:
        """Close the session (the next batch opens one) and reload the TLS files."""
        with self._lock:
            self._close_session()
            if self._tls_files is not None:
                try:
                    self._tls = _tls_context(*self._tls_files)
                except (OSError, ssl.SSLError) as err:
                    # Keep the previous context: a broken renewal must not stop delivery.
                    self._log.error("%s: cannot reload the TLS files: %s", self._name, err)

    def _close_session(self) -> None:
        """Say ``close`` and wait briefly for its answer, so the receiver ends the session cleanly."""
        session = self._session
        if session is None:
            return
        try:
            deadline = _Deadline(min(self.timeout, _CLOSE_WAIT))
            if session.client.unanswered == 0:
                session.send(session.client.close(), deadline)
                while session.client.unanswered:
                    session.receive(deadline)
        except (OSError, RelpError, _SessionLost):
            pass  # closing anyway: nothing is awaiting an answer
        finally:
            self._drop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close_session()
