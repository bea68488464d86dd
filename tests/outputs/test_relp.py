# SPDX-License-Identifier: GPL-3.0-or-later
"""The Relp driver against a real RELP receiver (rsyslog ``imrelp``), restarted under load,
and against a scripted server for the answers rsyslog never gives (garbage, silence, 500)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.outputs.records import Event, batch, events, json_record, raw_record
from tests.outputs.sinks import make_pki
from tests.support.ports import free_port
from tests.support.receivers import Rsyslog
from tests.support.relp_receiver import start_rsyslog_relp
from wec.outputs.base import OutputError
from wec.outputs.context import DriverContext
from wec.outputs.registry import build_driver
from wec.outputs.relp import DEFAULT_TIMEOUT, DEFAULT_WINDOW, RelpDriver
from wec.outputs.relp_protocol import FrameParser, encode_frame


@pytest.fixture
def imrelp(tmp_path: Path) -> Iterator[Rsyslog]:
    r = start_rsyslog_relp(tmp_path / "rsyslog")
    try:
        yield r
    finally:
        r.stop()


def relp(context: DriverContext, port: int, **config: Any) -> RelpDriver:
    return RelpDriver.from_config({"host": "127.0.0.1", "port": port, **config}, context=context)


def record_ids(messages: list[dict[str, Any]], field: str = "msg") -> Counter[int]:
    """The EventRecordID of every Json record received, with multiplicity."""
    ids: Counter[int] = Counter()
    for m in messages:
        ids[json.loads(m[field])["System"]["EventRecordID"]] += 1
    return ids


# --- against rsyslog imrelp ----------------------------------------------------------------------


class TestAgainstImrelp:
    def test_a_batch_is_delivered_as_rfc5424_messages(self, imrelp: Rsyslog, context: DriverContext) -> None:
        d = relp(context, imrelp.port, syslog={"rfc": "5424", "facility": "local4"})
        try:
            d.write(batch([json_record(e) for e in events(5)]))
        finally:
            d.close()
        got = imrelp.wait_for(5)
        assert record_ids(got) == Counter(range(1, 6))
        for m in got:
            assert m["host"] == "ws042.corp.example"
            assert m["msgid"] == "4624"
            assert m["app"] == "Microsoft-Windows-Security-Auditing"
            assert int(m["pri"]) == 20 * 8 + 6

    def test_without_syslog_the_record_is_the_message_and_newlines_stay_inside(
        self, imrelp: Rsyslog, context: DriverContext
    ) -> None:
        record = raw_record(Event(message="line one\n<13>1 - forged - - - - x\nline three"))
        d = relp(context, imrelp.port)
        try:
            d.write(batch([record, raw_record(Event(record_id=2))]))
        finally:
            d.close()
        got = imrelp.wait_for(2)
        # RELP frames by length: one event is one message, whatever it contains.
        assert [m["raw"].encode() for m in got] == [record, raw_record(Event(record_id=2))]

    def test_a_batch_larger_than_the_window(self, imrelp: Rsyslog, context: DriverContext) -> None:
        d = relp(context, imrelp.port, window=3, syslog={"rfc": "5424"})
        try:
            d.write(batch([json_record(e) for e in events(50)]))
        finally:
            d.close()
        assert record_ids(imrelp.wait_for(50)) == Counter(range(1, 51))

    def test_a_receiver_restarted_between_batches_gets_a_new_session(
        self, imrelp: Rsyslog, context: DriverContext
    ) -> None:
        d = relp(context, imrelp.port, syslog={"rfc": "5424"})
        try:
            d.write(batch([json_record(e) for e in events(3)]))
            imrelp.wait_for(3)
            imrelp.stop()  # imrelp says "serverclose" to the idle session
            imrelp.start()
            d.write(batch([json_record(e) for e in events(3, start=4)]))
        finally:
            d.close()
        assert record_ids(imrelp.wait_for(6)) == Counter(range(1, 7))

    def test_a_receiver_that_is_down_fails_the_batch(self, imrelp: Rsyslog, context: DriverContext) -> None:
        d = relp(context, imrelp.port, syslog={"rfc": "5424"}, timeout=3)
        try:
            imrelp.stop()
            with pytest.raises(OutputError, match=rf"Relp output 127\.0\.0\.1:{imrelp.port}: 2 of 2 event"):
                d.write(batch([json_record(e) for e in events(2)]))
            imrelp.start()
            d.write(batch([json_record(e) for e in events(2)]))
        finally:
            d.close()
        assert record_ids(imrelp.wait_for(2)) == Counter({1: 1, 2: 1})

    def test_restarted_under_load_every_event_is_there(self, imrelp: Rsyslog, context: DriverContext) -> None:
        """Batches go out back to back while rsyslog is restarted twice; a refused batch is
        written again, as a Windows source resends it. Afterwards every event is in rsyslog's
        output (duplicates allowed: messages answered just before a session broke)."""
        batches, size = 120, 20
        d = relp(context, imrelp.port, syslog={"rfc": "5424"}, timeout=5, window=8)
        refused = 0
        done = threading.Event()
        failure: list[BaseException] = []

        def writer() -> None:
            nonlocal refused
            try:
                for n in range(batches):
                    b = batch([json_record(e) for e in events(size, start=n * size + 1)])
                    for _ in range(200):  # bounded: about 20 s of retries per batch
                        try:
                            d.write(b)
                            break
                        except OutputError:
                            refused += 1
                            time.sleep(0.1)
                    else:
                        raise AssertionError(f"batch {n} never accepted")
            except BaseException as err:
                failure.append(err)
            finally:
                done.set()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            for threshold in (400, 1200):
                assert wait_until(lambda t=threshold: len(imrelp.messages()) >= t, 30)  # type: ignore[misc]
                imrelp.stop()
                time.sleep(0.3)  # batches meet a receiver that is down
                imrelp.start()
            assert done.wait(120)
        finally:
            thread.join(5)
            d.close()
        assert not failure, failure
        received = record_ids(imrelp.wait_for(batches * size, timeout=30))
        missing = set(range(1, batches * size + 1)) - set(received)
        assert not missing, f"{len(missing)} acknowledged events lost: {sorted(missing)[:10]}"
        assert set(received) == set(range(1, batches * size + 1))
        assert refused > 0  # the restarts really hit batches

    def test_tls_with_a_client_certificate(self, tmp_path: Path, context: DriverContext) -> None:
        pki = make_pki(tmp_path)
        server = start_rsyslog_relp(tmp_path / "rsyslog", tls=(pki.ca, pki.server_cert, pki.server_key))
        d = relp(
            context,
            server.port,
            tls_enabled=True,
            tls_certificate_authorities=[str(pki.ca)],
            tls_certificate=str(pki.client_cert),
            tls_key=str(pki.client_key),
            syslog={"rfc": "5424"},
        )
        try:
            d.write(batch([json_record(e) for e in events(3)]))
            d.reopen()  # reloads the TLS files and opens a new session
            d.write(batch([json_record(e) for e in events(2, start=4)]))
            assert record_ids(server.wait_for(5)) == Counter(range(1, 6))
        finally:
            d.close()
            server.stop()

    def test_tls_refuses_a_receiver_signed_by_another_ca(
        self, tmp_path: Path, context: DriverContext
    ) -> None:
        pki = make_pki(tmp_path)
        server = start_rsyslog_relp(tmp_path / "rsyslog", tls=(pki.ca, pki.server_cert, pki.server_key))
        d = relp(context, server.port, tls_enabled=True, tls_certificate_authorities=[str(pki.other_ca)])
        try:
            with pytest.raises(OutputError, match="CERTIFICATE_VERIFY_FAILED"):
                d.write(batch([json_record(e) for e in events(1)]))
        finally:
            d.close()
            server.stop()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- a scripted server: the answers rsyslog never gives -------------------------------------------


class ScriptedServer:
    """A RELP server on 127.0.0.1 that answers ``open`` properly, then answers each syslog
    frame with ``reply(txnr)`` (bytes to send, or None to stay silent)."""

    def __init__(self, reply: Callable[[int], bytes | None]) -> None:
        self.reply = reply
        self.port = free_port()
        self.received: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        parser = FrameParser(max_data=1 << 20)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            for frame in parser.feed(data):
                if frame.command == "open":
                    conn.sendall(encode_frame(frame.txnr, "rsp", b"200 OK\nrelp_version=0\ncommands=syslog"))
                elif frame.command == "close":
                    conn.sendall(encode_frame(frame.txnr, "rsp"))
                    return
                else:
                    self.received.append(frame.data)
                    answer = self.reply(frame.txnr)
                    if answer is not None:
                        conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int], bytes | None]], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(reply: Callable[[int], bytes | None]) -> ScriptedServer:
        servers.append(ScriptedServer(reply))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


ScriptedFactory = Callable[[Callable[[int], bytes | None]], ScriptedServer]


class TestServerFaults:
    @pytest.mark.parametrize(
        ("answer", "message"),
        [
            (lambda t: b"%d rsp 6 200 OKAY\n" % t, "trailer is not LF"),
            (lambda t: b"HTTP/1.1 400 Bad Request\r\n\r\n", "malformed RELP frame header"),
            (lambda t: b"%d rsp 6 200 OK\n" % (t + 1000), "answers no frame we sent"),
            (lambda t: b"%d rsp 2 OK\n" % t, "no status code"),
        ],
    )
    def test_malformed_answers_fail_the_batch_cleanly(
        self, scripted: ScriptedFactory, context: DriverContext, answer: Callable[[int], bytes], message: str
    ) -> None:
        server = scripted(answer)
        d = relp(context, server.port, timeout=5)
        try:
            with pytest.raises(OutputError, match=message):
                d.write(batch([json_record(e) for e in events(2)]))
        finally:
            d.close()

    def test_a_refused_message_fails_the_batch_with_the_servers_words(
        self, scripted: ScriptedFactory, context: DriverContext
    ) -> None:
        server = scripted(
            lambda t: encode_frame(t, "rsp", b"500 no space left") if t == 3 else b"%d rsp 6 200 OK\n" % t
        )
        d = relp(context, server.port, timeout=5)
        try:
            with pytest.raises(OutputError, match="refused event 2 of 3: 500 no space left"):
                d.write(batch([json_record(e) for e in events(3)]))
        finally:
            d.close()

    def test_a_silent_receiver_fails_the_batch_at_the_deadline(
        self, scripted: ScriptedFactory, context: DriverContext
    ) -> None:
        server = scripted(lambda t: None)
        d = relp(context, server.port, timeout=0.5)
        try:
            with pytest.raises(
                OutputError, match=r"1 of 1 event\(s\) not acknowledged: no answer within 0\.5s"
            ):
                d.write(batch([json_record(e) for e in events(1)]))
        finally:
            d.close()
        assert len(server.received) == 1

    def test_a_session_lost_mid_batch_resends_only_what_was_not_acknowledged(
        self, scripted: ScriptedFactory, context: DriverContext
    ) -> None:
        # The first session answers two messages then announces its end; the second answers all.
        calls = Counter[str]()

        def reply(txnr: int) -> bytes | None:
            calls["n"] += 1
            if calls["n"] == 3:
                return b"0 serverclose 0\n"
            return b"%d rsp 6 200 OK\n" % txnr

        server = scripted(reply)
        d = relp(context, server.port, timeout=5, window=1)
        records = [json_record(e) for e in events(5)]
        try:
            d.write(batch(records))
        finally:
            d.close()
        # 1, 2 answered; 3 unanswered when the session ended: resent with 4 and 5.
        assert server.received == [records[0], records[1], records[2], records[2], records[3], records[4]]


# --- configuration --------------------------------------------------------------------------------


class TestConfig:
    def test_registered_as_relp(self, context: DriverContext) -> None:
        d = build_driver("Relp", {"host": "127.0.0.1", "port": 2514}, context)
        assert isinstance(d, RelpDriver)
        assert (d.timeout, d.window) == (DEFAULT_TIMEOUT, DEFAULT_WINDOW)
        d.close()

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ({"port": 2514}, "'host' .* is required"),
            ({"host": "h"}, "'port' is required"),
            ({"host": "h", "port": 2514, "framing": "lf"}, "unknown config key 'framing'"),
            ({"host": "h", "port": 2514, "window": 0}, "'window'"),
            ({"host": "h", "port": 2514, "timeout": 0}, "'timeout'"),
            ({"host": "h", "port": 2514, "tls_certificate": "/x.pem"}, "tls_enabled"),
            ({"host": "h", "port": 2514, "syslog": {"rfc": "3164"}}, "Relp: syslog.rfc"),
            ({"host": "h", "addr": "g", "port": 2514}, "disagree"),
        ],
    )
    def test_invalid_configurations_are_refused(self, config: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RelpDriver.from_config(config, context=DriverContext(logger=logging.getLogger("t")))

    def test_a_subscription_file_with_a_relp_output_loads(self) -> None:
        from wec.subscriptions.files import parse_subscription

        text = """
uuid = "8c1d2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"
name = "s"
query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
[[outputs]]
driver = "Relp"
format = "Json"
config = { host = "siem", port = 2514, syslog = { rfc = "5424" } }
"""
        sub = parse_subscription(text, source="s.toml")
        assert sub.outputs[0].driver == "Relp"
