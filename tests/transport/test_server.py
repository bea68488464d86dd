# SPDX-License-Identifier: GPL-3.0-or-later
"""The cheroot server over real loopback sockets: per-connection state (docs/protocol.md §2.4
"Connections": the Kerberos context belongs to one TCP connection), PROXY protocol behind a
real HAProxy, TCP keepalive, graceful stop."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port, wait_for_port
from wec.transport.server import ConnectionState, WecServer, _Connection

WAIT = 10.0  # upper bound of every wait in this module (seconds)


class PassThroughSession:
    """A session (wec.auth.session.Session) that leaves bodies as they are."""

    principal = "CN=win10.wec.test"
    url_scheme = "http"
    issuer_thumbprint = None

    def decrypt_request(self, content_type: str, body: bytes) -> bytes:
        return body

    def encrypt_response(self, plaintext: bytes) -> tuple[str, bytes]:
        return "application/soap+xml;charset=UTF-16", plaintext

    def close(self) -> None:
        pass


class RecordingSession(PassThroughSession):
    """Stands in for a Kerberos session: records that the server closed it."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.calls = 0

    def close(self) -> None:
        self.calls += 1
        self.closed.set()


class EchoApp:
    """A WSGI app that answers with what it knows about the connection, as JSON."""

    def __init__(self) -> None:
        self.sessions: list[RecordingSession] = []
        self.session_of: dict[int, RecordingSession] = {}  # connection_id → its session
        self.states: list[ConnectionState] = []
        self.slow_started = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        state: ConnectionState = environ["wec.connection"]
        with state.lock:
            state.requests += 1
        self.states.append(state)
        path = environ["PATH_INFO"]
        if path == "/session" and state.session is None:
            session = RecordingSession()
            self.sessions.append(session)
            self.session_of[state.connection_id] = session
            state.session = session
        if path == "/slow":
            self.slow_started.set()
            time.sleep(1.0)
        body = json.dumps(
            {
                "connection_id": state.connection_id,
                "state_id": id(state),
                "state_addr": state.remote_addr,
                "state_port": state.remote_port,
                "remote_addr": environ["REMOTE_ADDR"],
                "remote_port": environ["REMOTE_PORT"],
                "requests": state.requests,
            }
        ).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if path == "/close":  # what WecApp sends after a refused request
            headers.append(("Connection", "close"))
        start_response("200 OK", headers)
        return [body]


class Running:
    def __init__(self, server: WecServer, app: EchoApp, port: int, thread: threading.Thread) -> None:
        self.server = server
        self.app = app
        self.port = port
        self.thread = thread
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.server.stop()
            self.thread.join(WAIT)


def start_server(server_class: type[WecServer] = WecServer, **kwargs: Any) -> Running:
    app = EchoApp()
    port = free_port()
    kwargs.setdefault("threads", 4)
    kwargs.setdefault("shutdown_timeout", 5)
    server = server_class(("127.0.0.1", port), app, **kwargs)
    server.prepare()
    thread = threading.Thread(target=server.serve, name="wec-test-server", daemon=True)
    thread.start()
    wait_for_port(port, timeout=WAIT)
    return Running(server, app, port, thread)


@pytest.fixture
def running() -> Iterator[Running]:
    r = start_server()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def proxied() -> Iterator[Running]:
    r = start_server(proxy_protocol=True)
    try:
        yield r
    finally:
        r.stop()


def _connect(port: int, preamble: bytes = b"") -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    conn.connect()
    if preamble:
        assert conn.sock is not None
        conn.sock.sendall(preamble)
    return conn


def _get(conn: http.client.HTTPConnection, path: str = "/") -> dict[str, Any]:
    conn.request("POST", path, body=b"", headers={"Connection": "Keep-Alive"})
    response = conn.getresponse()
    assert response.status == 200
    data: dict[str, Any] = json.loads(response.read())
    return data


def _wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- one state per TCP connection -------------------------------------------------------------


def test_requests_of_one_keep_alive_connection_share_one_state(running: Running) -> None:
    conn = _connect(running.port)
    try:
        seen = [_get(conn) for _ in range(3)]
    finally:
        conn.close()

    assert len({s["connection_id"] for s in seen}) == 1
    assert len({s["state_id"] for s in seen}) == 1
    assert [s["requests"] for s in seen] == [1, 2, 3]


def test_a_new_connection_gets_a_new_state(running: Running) -> None:
    first, second = _connect(running.port), _connect(running.port)
    try:
        a, b = _get(first), _get(second)
        a_again = _get(first)
    finally:
        first.close()
        second.close()

    assert a["connection_id"] != b["connection_id"]
    assert a_again["connection_id"] == a["connection_id"]
    assert b["requests"] == 1


def test_state_carries_the_peer_address(running: Running) -> None:
    conn = _connect(running.port)
    try:
        assert conn.sock is not None
        host, port = conn.sock.getsockname()
        seen = _get(conn)
    finally:
        conn.close()

    assert (seen["state_addr"], seen["state_port"]) == (host, port)
    assert (seen["remote_addr"], seen["remote_port"]) == (host, str(port))


def test_state_is_closed_when_the_client_disconnects(running: Running) -> None:
    conn = _connect(running.port)
    _get(conn, "/session")
    _get(conn, "/session")  # the same session stays with the connection
    session = running.app.sessions[0]
    assert not session.closed.is_set()

    conn.close()

    assert session.closed.wait(WAIT), "ConnectionState.close() was not called after the client left"
    assert session.calls == 1
    assert running.app.states[0].closed
    assert running.app.states[0].session is None
    assert len(running.app.sessions) == 1


def test_other_connections_keep_their_session_when_one_disconnects(running: Running) -> None:
    leaving, staying = _connect(running.port), _connect(running.port)
    _get(leaving, "/session")
    _get(staying, "/session")
    gone, kept = running.app.sessions

    leaving.close()

    assert gone.closed.wait(WAIT)
    assert not kept.closed.is_set()
    assert _get(staying)["requests"] == 2
    staying.close()
    assert kept.closed.wait(WAIT)


def test_sessions_are_closed_when_the_server_stops(running: Running) -> None:
    conn = _connect(running.port)
    try:
        _get(conn, "/session")
        running.stop()
        assert running.app.sessions[0].closed.wait(WAIT)
    finally:
        conn.close()


def test_session_close_error_does_not_hurt_the_server(running: Running) -> None:
    class Broken(PassThroughSession):
        def close(self) -> None:
            raise RuntimeError("boom")

    state = ConnectionState(remote_addr="192.0.2.1", remote_port=1, connection_id=0, session=Broken())
    state.close()  # logged, not raised

    assert state.closed
    assert state.session is None
    conn = _connect(running.port)
    try:
        assert _get(conn)["requests"] == 1
    finally:
        conn.close()


# --- PROXY protocol ------------------------------------------------------------------------


def test_proxy_v1_header_gives_remote_addr(proxied: Running) -> None:
    conn = _connect(proxied.port, b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985\r\n")
    try:
        first = _get(conn)
        second = _get(conn)  # the header is read once per connection
    finally:
        conn.close()

    for seen in (first, second):
        assert (seen["remote_addr"], seen["remote_port"]) == ("192.0.2.10", "50123")
        assert (seen["state_addr"], seen["state_port"]) == ("192.0.2.10", 50123)
    assert first["connection_id"] == second["connection_id"]


def test_proxy_v2_ipv6_header_gives_remote_addr(proxied: Running) -> None:
    from tests.transport.test_proxy import v2_inet6

    conn = _connect(proxied.port, v2_inet6("2001:db8::10", "2001:db8::1", 61000, 5985))
    try:
        seen = _get(conn)
    finally:
        conn.close()

    assert (seen["remote_addr"], seen["remote_port"]) == ("2001:db8::10", "61000")


def test_proxy_local_keeps_the_socket_peer(proxied: Running) -> None:
    from tests.transport.test_proxy import v2

    conn = _connect(proxied.port, v2(0, 0, b""))
    try:
        assert conn.sock is not None
        host, port = conn.sock.getsockname()
        seen = _get(conn)
    finally:
        conn.close()

    assert (seen["remote_addr"], seen["remote_port"]) == (host, str(port))


def _raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_connection_without_proxy_header_is_refused(proxied: Running) -> None:
    answer = _raw_exchange(proxied.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")

    assert answer == b""
    assert proxied.app.states == []  # the app never saw it


def test_connection_with_bad_proxy_header_is_refused(proxied: Running) -> None:
    answer = _raw_exchange(
        proxied.port, b"PROXY TCP4 192.0.2.999 10.0.0.5 1 2\r\nPOST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    )

    assert answer == b""
    assert proxied.app.states == []


def test_proxy_header_is_plain_data_when_proxy_protocol_is_off(running: Running) -> None:
    answer = _raw_exchange(
        running.port,
        b"PROXY TCP4 192.0.2.10 10.0.0.5 50123 5985\r\nPOST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    )

    # Without proxy_protocol nobody may forge its address with a header: it is a bad request.
    assert answer.startswith(b"HTTP/1.1 400")
    assert running.app.states == []


# --- a real HAProxy in front -----------------------------------------------------------------


HAPROXY_CONF = """\
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend wec_front
    bind 127.0.0.1:{front}
    default_backend wec_nodes
backend wec_nodes
    server node1 127.0.0.1:{back} {send_proxy}
"""


@pytest.fixture
def haproxy_factory(tmp_path: Path) -> Iterator[Callable[[int, str], int]]:
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(back: int, send_proxy: str) -> int:
        front = free_port()
        conf = tmp_path / f"haproxy-{front}.cfg"
        conf.write_text(HAPROXY_CONF.format(front=front, back=back, send_proxy=send_proxy))
        check = subprocess.run([binary, "-c", "-f", str(conf)], capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr.decode()
        proc = subprocess.Popen(
            [binary, "-f", str(conf), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(proc)
        wait_for_port(front, timeout=WAIT)
        return front

    try:
        yield start
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(WAIT)
            if proc.stderr is not None:
                proc.stderr.close()


@pytest.mark.parametrize("send_proxy", ["send-proxy", "send-proxy-v2"])
def test_haproxy_passes_the_client_address(
    proxied: Running, haproxy_factory: Callable[[int, str], int], send_proxy: str
) -> None:
    front = haproxy_factory(proxied.port, send_proxy)
    conn = _connect(front)
    try:
        assert conn.sock is not None
        client_addr, client_port = conn.sock.getsockname()
        first = _get(conn)
        second = _get(conn)
    finally:
        conn.close()

    # The balancer's own connection to the node has another source port: seeing the client's
    # port proves the PROXY header was read.
    assert (first["remote_addr"], first["remote_port"]) == (client_addr, str(client_port))
    assert (first["state_addr"], first["state_port"]) == (client_addr, client_port)
    assert second["connection_id"] == first["connection_id"]
    assert second["requests"] == 2


def test_haproxy_connections_each_get_their_own_state(
    proxied: Running, haproxy_factory: Callable[[int, str], int]
) -> None:
    front = haproxy_factory(proxied.port, "send-proxy-v2")
    conns = [_connect(front) for _ in range(3)]
    try:
        seen = [_get(c, "/session") for c in conns]
        ports = [c.sock.getsockname()[1] for c in conns if c.sock is not None]
    finally:
        conns[0].close()

    try:
        assert [int(s["remote_port"]) for s in seen] == ports
        assert len({s["connection_id"] for s in seen}) == 3
        # the client leaving through the balancer closes its state on the node
        assert proxied.app.session_of[seen[0]["connection_id"]].closed.wait(WAIT)
        assert not proxied.app.session_of[seen[1]["connection_id"]].closed.is_set()
    finally:
        for c in conns[1:]:
            c.close()


# --- TCP keepalive -------------------------------------------------------------------------


def _accepted_for(conn: http.client.HTTPConnection, accepted: list[socket.socket]) -> socket.socket:
    """The server side of ``conn`` (wait_for_port's probe connection was accepted too)."""
    assert conn.sock is not None
    mine = conn.sock.getsockname()
    matches = [s for s in accepted if s.fileno() != -1 and s.getpeername() == mine]
    assert len(matches) == 1
    return matches[0]


def test_tcp_keepalive_options_are_applied_to_accepted_sockets() -> None:
    accepted: list[socket.socket] = []

    class RecordingConnection(_Connection):
        def __init__(self, server: WecServer, sock: socket.socket, makefile: Any = None) -> None:
            super().__init__(server, sock, makefile)
            accepted.append(sock)

    class RecordingServer(WecServer):
        ConnectionClass = RecordingConnection

    r = start_server(RecordingServer, keepalive=(600, 30, 4))
    try:
        conn = _connect(r.port)
        try:
            _get(conn)
            sock = _accepted_for(conn, accepted)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 600
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
        finally:
            conn.close()
    finally:
        r.stop()


def test_tcp_keepalive_off_when_idle_time_is_none() -> None:
    accepted: list[socket.socket] = []

    class RecordingConnection(_Connection):
        def __init__(self, server: WecServer, sock: socket.socket, makefile: Any = None) -> None:
            super().__init__(server, sock, makefile)
            accepted.append(sock)

    class RecordingServer(WecServer):
        ConnectionClass = RecordingConnection

    r = start_server(RecordingServer, keepalive=(None, None, None))
    try:
        conn = _connect(r.port)
        try:
            _get(conn)
            assert _accepted_for(conn, accepted).getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0
        finally:
            conn.close()
    finally:
        r.stop()


# --- the app may ask for the connection to be closed ----------------------------------------


def test_connection_close_from_the_app_closes_the_connection(running: Running) -> None:
    # WecApp answers refused requests (400/500) with "Connection: close" because the GSS
    # sequence numbers may be out of step: the server must really close, not only say so.
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=WAIT)
    try:
        sock.sendall(b"POST /close HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # EOF: the server closed its side
            received += chunk
    except TimeoutError:
        pytest.fail("the server kept the connection open after answering Connection: close")
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in received
    assert _wait_for(lambda: running.app.states[-1].closed)


# --- graceful stop ---------------------------------------------------------------------------


def test_request_in_flight_completes_when_the_server_stops(running: Running) -> None:
    result: dict[str, Any] = {}

    def client() -> None:
        conn = _connect(running.port)
        try:
            result["data"] = _get(conn, "/slow")
        except Exception as err:  # reported by the assertion below
            result["error"] = err
        finally:
            conn.close()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    assert running.app.slow_started.wait(WAIT)

    stopper = threading.Thread(target=running.stop, daemon=True)
    stopper.start()
    thread.join(WAIT)
    stopper.join(WAIT)

    assert not thread.is_alive() and not stopper.is_alive()
    assert "error" not in result, result.get("error")
    assert result["data"]["requests"] == 1
    # and the server no longer accepts connections
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1.0).close()


def _trickle(port: int, data: bytes, pause: float, limit: int) -> tuple[int, bytes]:
    """Send ``data`` one byte every ``pause`` seconds (at most ``limit`` bytes); returns how many
    bytes went out before the server closed the connection, and what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        sent = 0
        for byte in data[:limit]:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
            ready, _, _ = select.select([s], [], [], pause)
            if ready:
                answer = s.recv(4096)
                return sent, answer
        s.settimeout(WAIT)
        try:
            return sent, s.recv(4096)
        except OSError:
            return sent, b""


def test_a_client_trickling_its_request_is_cut_off_at_the_request_deadline() -> None:
    r = start_server(threads=2, request_timeout=1.0)
    try:
        request = b"POST /wsman/x HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n" + b"a" * 500
        # One byte every 0.2 s: each recv is quick, but the whole request would take 2 minutes.
        sent, answer = _trickle(r.port, request, pause=0.2, limit=len(request))
        assert sent < 40, "the server kept reading a trickled request far past its deadline"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
        # The worker threads are free again: a normal request is served.
        conn = _connect(r.port)
        assert _get(conn)["requests"] == 1
        conn.close()
    finally:
        r.stop()


def test_idle_keep_alive_connections_outlive_the_request_deadline() -> None:
    r = start_server(request_timeout=0.5)
    try:
        conn = _connect(r.port)
        first = _get(conn)
        time.sleep(1.0)  # idle between two requests: waits in the selector, no deadline
        assert _get(conn)["connection_id"] == first["connection_id"]
        conn.close()
    finally:
        r.stop()


def test_requests_beyond_the_queue_bound_get_a_fast_503() -> None:
    r = start_server(threads=2, max_queued_requests=2)
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=WAIT)
        try:
            conn.request("GET", "/slow")
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException):
            status = -1
        finally:
            conn.close()
        with lock:
            results.append(status)

    try:
        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert len(results) == 12  # every client got an answer: none waits in an unbounded queue
        assert results.count(503) >= 4, results
        assert results.count(200) >= 2, results
    finally:
        r.stop()


def test_connection_limits_count_and_release() -> None:
    from wec.transport.server import ConnectionLimits

    limits = ConnectionLimits(max_total=2, max_per_address=1)
    assert limits.open() and limits.open() and not limits.open()
    limits.close()
    assert limits.open()
    assert limits.enter_address("10.0.0.1") and not limits.enter_address("10.0.0.1")
    assert limits.enter_address("10.0.0.2")
    limits.leave_address("10.0.0.1")
    assert limits.enter_address("10.0.0.1")
    assert ConnectionLimits(max_per_address=0).enter_address("x")
