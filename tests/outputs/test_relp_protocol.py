# SPDX-License-Identifier: GPL-3.0-or-later
"""The RELP client's framing and session state, without sockets (wec.outputs.relp_protocol)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wec.outputs.relp_protocol import (
    MAX_TXNR,
    Frame,
    FrameParser,
    RelpClient,
    RelpError,
    RelpProtocolError,
    Response,
    ServerClose,
    SessionState,
    encode_frame,
    parse_offers,
)

# What rsyslog 8.2302 / librelp 1.11 answered to an "open" (captured on this project's test
# receiver, tests/support/relp_receiver.py).
OPEN_RSP = (
    b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\n"
    b"commands=syslog\n"
)


def opened(window: int = 128) -> RelpClient:
    client = RelpClient(window=window)
    client.open()
    client.receive_data(OPEN_RSP)
    assert client.state is SessionState.OPEN
    return client


class TestEncode:
    def test_frame_with_data(self) -> None:
        assert encode_frame(7, "syslog", b"<13>1 - h a - - - hi") == b"7 syslog 20 <13>1 - h a - - - hi\n"

    def test_frame_without_data_has_no_space_before_the_trailer(self) -> None:
        assert encode_frame(4, "close") == b"4 close 0\n"

    def test_open_offers_version_software_and_syslog(self) -> None:
        frame = RelpClient(software="wec").open()
        assert frame == b"1 open 48 relp_version=0\nrelp_software=wec\ncommands=syslog\n"

    @pytest.mark.parametrize(
        ("txnr", "command"),
        [(-1, "syslog"), (MAX_TXNR + 1, "syslog"), (1, ""), (1, "sys log"), (1, "x" * 33)],
    )
    def test_refuses_what_would_not_parse(self, txnr: int, command: str) -> None:
        with pytest.raises(ValueError):
            encode_frame(txnr, command)

    @given(
        txnr=st.integers(0, MAX_TXNR),
        command=st.text(st.sampled_from("abcXYZ"), min_size=1, max_size=32),
        data=st.binary(max_size=300),
    )
    def test_every_encoded_frame_parses_back(self, txnr: int, command: str, data: bytes) -> None:
        encoded = encode_frame(txnr, command, data)
        parser = FrameParser()
        # Byte by byte: a frame split anywhere by TCP is reassembled.
        frames = [f for i in range(len(encoded)) for f in parser.feed(encoded[i : i + 1])]
        assert frames == [Frame(txnr, command, data)]
        assert parser.pending == 0


class TestParser:
    def test_several_frames_in_one_read(self) -> None:
        assert FrameParser().feed(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 0\n0 serverclose 0\n") == [
            Frame(2, "rsp", b"200 OK"),
            Frame(3, "rsp", b"200 OK"),
            Frame(4, "rsp"),
            Frame(0, "serverclose"),
        ]

    def test_data_may_contain_newlines(self) -> None:
        assert FrameParser().feed(b"1 rsp 8 200 OK\na\n") == [Frame(1, "rsp", b"200 OK\na")]

    def test_a_space_before_the_trailer_of_an_empty_frame_is_tolerated(self) -> None:
        assert FrameParser().feed(b"0 serverclose 0 \n") == [Frame(0, "serverclose")]

    @pytest.mark.parametrize(
        "data",
        [
            b"x rsp 6 200 OK\n",  # TXNR not a number
            b"1234567890 rsp 6 200 OK\n",  # 10 digits
            b"1 r5p 6 200 OK\n",  # command not letters
            b"1 rsp six 200 OK\n",
            b"1 rsp 6 200 OKAY\n",  # DATALEN too short: the trailer is not LF
            b"1 rsp 6\n",  # DATALEN without data
            b"1 rsp 0 x\n",  # data after DATALEN 0
            b"1  rsp 6 200 OK\n",
            b"\n",
            b"HTTP/1.1 400 Bad Request\r\n",  # not a RELP server at all
            b"1 rsp 99999999 ",  # more than the limit
        ],
    )
    def test_malformed_input_is_a_protocol_error(self, data: bytes) -> None:
        with pytest.raises(RelpProtocolError):
            FrameParser(max_data=1000).feed(data)

    def test_an_incomplete_frame_waits_for_more(self) -> None:
        parser = FrameParser()
        assert parser.feed(b"12 rs") == []
        assert parser.feed(b"p 6 200") == []
        assert parser.feed(b" OK\n") == [Frame(12, "rsp", b"200 OK")]

    def test_a_header_that_never_ends_is_refused_without_waiting_forever(self) -> None:
        with pytest.raises(RelpProtocolError):
            FrameParser().feed(b"1" * 9 + b" " + b"a" * 60)


class TestSession:
    def test_open_then_syslog_then_close(self) -> None:
        client = RelpClient()
        assert client.state is SessionState.IDLE
        client.open()
        assert client.state is SessionState.OPENING and not client.can_send
        (event,) = client.receive_data(OPEN_RSP)
        assert isinstance(event, Response) and event.ok and event.command == "open"
        assert client.server_offers["commands"] == "syslog"
        assert client.server_offers["relp_software"].startswith("librelp")
        txnr, frame = client.syslog(b"hello")
        assert (txnr, frame) == (2, b"2 syslog 5 hello\n")
        assert client.receive_data(b"2 rsp 6 200 OK\n") == [Response(2, "syslog", 200, "OK", b"")]
        assert client.close() == b"3 close 0\n"
        (closed,) = client.receive_data(b"3 rsp 0\n")
        assert isinstance(closed, Response) and closed.command == "close"
        assert client.state is SessionState.CLOSED

    def test_the_window_bounds_unanswered_frames(self) -> None:
        client = opened(window=2)
        client.syslog(b"a")
        client.syslog(b"b")
        assert not client.can_send and client.unanswered == 2
        with pytest.raises(RelpError, match="window"):
            client.syslog(b"c")
        client.receive_data(b"3 rsp 6 200 OK\n")  # answers may come in any order
        assert client.can_send
        assert client.syslog(b"c")[0] == 4

    def test_transaction_numbers_wrap_to_one(self) -> None:
        client = opened()
        client._next_txnr = MAX_TXNR
        assert client.syslog(b"a")[0] == MAX_TXNR
        assert client.syslog(b"b")[0] == 1

    def test_a_refusal_keeps_its_code_and_text(self) -> None:
        client = opened()
        client.syslog(b"a")
        (event,) = client.receive_data(b"2 rsp 17 500 data too long\n")
        assert isinstance(event, Response) and not event.ok
        assert (event.code, event.text) == (500, "data too long")

    def test_serverclose(self) -> None:
        client = opened()
        assert client.receive_data(b"0 serverclose 0\n") == [ServerClose()]
        assert client.state is SessionState.CLOSED
        with pytest.raises(RelpError):
            client.syslog(b"a")

    def test_refused_open(self) -> None:
        client = RelpClient()
        client.open()
        (event,) = client.receive_data(b"1 rsp 28 500 unsupported relp_version\n")
        assert isinstance(event, Response) and event.code == 500
        assert client.state is SessionState.CLOSED

    def test_a_server_without_the_syslog_command_is_refused(self) -> None:
        client = RelpClient()
        client.open()
        with pytest.raises(RelpProtocolError, match="syslog"):
            client.receive_data(b"1 rsp 37 200 OK\nrelp_version=0\ncommands=other\n\n")

    @pytest.mark.parametrize(
        "data",
        [
            b"9 rsp 6 200 OK\n",  # answers nothing we sent
            b"2 syslog 1 x\n",  # servers do not send syslog frames
            b"2 rsp 2 OK\n",  # no status code
            b"2 rsp 4 2000\n",
        ],
    )
    def test_answers_that_make_no_sense_are_protocol_errors(self, data: bytes) -> None:
        client = opened()
        client.syslog(b"a")
        with pytest.raises(RelpProtocolError):
            client.receive_data(data)
        assert client.state is SessionState.CLOSED

    def test_offers(self) -> None:
        assert parse_offers(b"relp_version=0\ncommands=syslog\nflag\n") == {
            "relp_version": "0",
            "commands": "syslog",
            "flag": "",
        }

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=200))
    def test_any_server_bytes_parse_or_raise_a_relp_error(self, data: bytes) -> None:
        client = opened()
        client.syslog(b"a")
        with contextlib.suppress(RelpError):
            client.receive_data(data)
