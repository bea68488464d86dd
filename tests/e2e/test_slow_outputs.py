# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end, issue 13 ("nothing lost, nothing stalls"): outputs that hang, disks that fill.

* A Tcp receiver that accepts and never reads holds subscription A; subscription B (Files)
  keeps being acknowledged, Enumerate and heartbeats keep answering.
* A Files output whose writes never return (a FIFO nobody reads: the write blocks in the
  kernel as on a hung NFS mount) while its sources resend big batches: wecd's memory stays
  bounded, the other subscription is served, and when the output comes back nothing is lost.
* A Files output that hits EFBIG (RLIMIT_FSIZE on the running wecd) answers 503, leaves no
  partial line, and delivers everything once the limit is lifted.
* wecd killed right after its last Ack: every acknowledged event is in the files.

Events are counted end to end: what the simulated machines saw acknowledged must be in the
outputs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import output_keys, patient_sim, run_sim, saw_status
from tests.e2e.harness import Collector, subscription_toml
from tests.support.kdc import Kdc
from wec.sim.events import key_from_line

pytestmark = pytest.mark.e2e

A_UUID = "3c1e2a4b-5d6f-4a7b-8c9d-0e1f2a3b4c5d"
B_UUID = "8f7e6d5c-4b3a-4291-8f0e-1d2c3b4a5968"


def only(*machines: int) -> str:
    targets = ", ".join(f'"SIM{n:03d}$@WEC.TEST"' for n in machines)
    return f'[filter]\noperation = "Only"\ntargets = [{targets}]\n'


def files_output(path: str) -> str:
    return f'[[outputs]]\ndriver = "Files"\nformat = "Raw"\nconfig = {{ path = "{path}" }}\n'


class NeverReads:
    """A TCP server that accepts connections and never reads from them (a stuck receiver).

    Its receive buffer is made tiny so that the sender's writes block after a few batches.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="never-reads", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)  # kept open, never read

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def never_reads() -> Iterator[NeverReads]:
    server = NeverReads()
    try:
        yield server
    finally:
        server.close()


def make_collector(tmp_path: Path, kdc: Kdc, *, threads: int, write_timeout: float) -> Collector:
    return Collector(
        tmp_path / "collector",
        kdc,
        extra_settings=f"thread_pool_size = {threads}",
        extra_sections=f"[outputs]\nwrite_timeout = {write_timeout}\n",
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_receiver_that_stops_reading_does_not_stall_the_other_subscriptions(
    tmp_path: Path, kdc: Kdc, keytab_dir: Path, never_reads: NeverReads
) -> None:
    # Four request threads: without a per-subscription share, A's four machines, each stuck
    # behind the Tcp output, would hold them all and B would wait.
    collector = make_collector(tmp_path, kdc, threads=4, write_timeout=2)
    tcp = textwrap.dedent(f"""\
        [[outputs]]
        driver = "Tcp"
        format = "Raw"
        config = {{ host = "127.0.0.1", port = {never_reads.port} }}
        """)
    collector.add_subscription(
        subscription_toml(A_UUID, "stuck", outputs=tcp, extra=only(1, 2, 3, 4)), "a.toml"
    )
    collector.add_subscription(
        subscription_toml(B_UUID, "healthy", outputs=files_output("out/{client}/b.xml"), extra=only(5, 6)),
        "b.toml",
    )
    try:
        collector.start()
        stuck = patient_sim(collector, keytab_dir, machines=4, events=1000, batch=200, duration_s=12.0)
        # A is stuck once its batches are refused: the deadline passed, or its share is used.
        assert saw_status(collector, 503, 30)
        healthy = run_sim(collector, keytab_dir, machines=2, first=5, events=120, batch=10, max_retries=10)
        stuck_summary = stuck.result(90)
        logs = collector.logs()
    finally:
        collector.stop()
    # B: every event acknowledged and written once, Enumerate and heartbeats answered.
    assert healthy.ok, healthy.to_dict()
    assert healthy.events_acked == 240
    written = output_keys(collector)
    assert set(written) == set(healthy.acked_keys())
    # A: its batches waited at most the write deadline (the Tcp write itself goes on for up
    # to its own 10 s timeout), and while one was in delivery the others were refused at once.
    assert stuck_summary.resent > 0, stuck_summary.to_dict()
    assert "no answer within the 2s write deadline" in logs
    assert "batches already in delivery" in logs
    # Whatever A acknowledged went out to the receiver (nothing is acked that was not sent).
    assert stuck_summary.events_acked <= stuck_summary.events_sent


def test_a_hung_output_keeps_memory_bounded_while_sources_resend(
    tmp_path: Path, kdc: Kdc, keytab_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fewer malloc arenas: each request thread's own arena would otherwise add its peak to
    # the resident size once (tens of MiB of noise over the first seconds).
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    collector = make_collector(tmp_path, kdc, threads=32, write_timeout=1)
    fifo = collector.directory / "hung.fifo"
    os.mkfifo(fifo)
    # A reader that opened the FIFO and never reads: wecd's open succeeds, its writes block
    # once the pipe (64 KiB) is full, in the kernel, as on a hung NFS mount.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    drained = threading.Event()  # set: stop draining
    hung = files_output(str(fifo)) + files_output("out/{client}/a.xml")  # two outputs
    collector.add_subscription(
        subscription_toml(A_UUID, "hung", outputs=hung, extra=only(1, 2, 3, 4)), "a.toml"
    )
    collector.add_subscription(
        subscription_toml(B_UUID, "healthy", outputs=files_output("out/{client}/b.xml"), extra=only(7, 8)),
        "b.toml",
    )
    try:
        collector.start()
        assert collector.proc is not None
        pid = collector.proc.pid
        resending = patient_sim(
            collector,
            keytab_dir,
            machines=6,
            events=2000,
            batch=500,
            duration_s=25.0,
            max_retries=400,
            retry_backoff_s=0.1,
            retry_backoff_max_s=0.2,
        )
        # Once the output is known hung, its refusals are immediate: measure from there.
        assert collector.wait_for(lambda: "still hang" in collector.logs(), 30)
        healthy = run_sim(collector, keytab_dir, machines=2, first=7, events=100, batch=10, max_retries=10)
        a_files = lambda: sum(p.stat().st_size for p in collector.output_files("out/**/a.xml"))  # noqa: E731
        # Two windows of 5 s: the first lets each thread's allocator reach its working size,
        # the second is measured.
        samples, sizes = [], []
        for _ in range(20):  # bounded: 10 s
            samples.append(rss_kib(pid) * 1024)
            sizes.append(a_files())
            time.sleep(0.5)
        settled, peak = samples[9], max(samples[10:])
        handled = sizes[-1] - sizes[9]  # bytes of A's batches formatted, then refused
        logs = collector.logs()
        assert healthy.ok, healthy.to_dict()

        # Bring the output back: drain the FIFO so the hung writes return.
        def drain() -> None:
            while not drained.is_set():
                with contextlib.suppress(BlockingIOError):
                    if not os.read(reader, 1 << 16):
                        time.sleep(0.05)
                time.sleep(0.001)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        summary = resending.result(120)
    finally:
        collector.stop()
        drained.set()
        os.close(reader)
    # The resends did not pile up: batches of ~250 events (hundreds of KiB each) were
    # refused dozens of times, and the process grew by far less than they would weigh.
    # The resends did not pile up: in the measured window more batch bytes went through
    # the collector (and were refused) than twice what its resident size may grow.
    assert summary.resent >= 20, summary.to_dict()
    assert handled > 8 << 20, handled
    assert peak - settled < 4 << 20, (samples, handled)
    assert "earlier write(s) past their deadline still hang" in logs
    # B was served throughout; A's acknowledged events (if any) are all in its file.
    b_keys = output_keys(collector, "out/**/b.xml")
    assert set(b_keys) == set(healthy.acked_keys())
    a_keys = output_keys(collector, "out/**/a.xml")
    assert set(summary.acked_keys()) <= set(a_keys)


def test_a_file_past_its_size_limit_gets_503_no_partial_line_and_recovers(
    collector: Collector, keytab_dir: Path
) -> None:
    # RLIMIT_FSIZE applies to every file wecd writes (database, WAL, log): leave them room
    # (8 MiB) and bring the output file itself close to the limit.
    limit = 8 << 20
    target = collector.directory / "out" / "SIM001@WEC.TEST" / "raw.xml"
    target.parent.mkdir(parents=True)
    filler = b"#" + b"f" * 1022 + b"\n"  # 1 KiB lines that are not events
    with target.open("wb") as f:
        for _ in range((limit - (24 << 10)) // len(filler)):
            f.write(filler)
    collector.start()
    assert collector.proc is not None
    pid = collector.proc.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))  # the soft limit: liftable
    try:
        sim = patient_sim(
            collector, keytab_dir, machines=1, events=200, batch=20, max_retries=60, duration_s=60
        )
        assert collector.wait_for(lambda: "File too large" in collector.logs(), 30)
        assert saw_status(collector, 503)
        # While refused: the file ends with a whole line (the failed batch was cut away).
        assert target.read_bytes().endswith(b"\n")
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))  # space is back
        summary = sim.result(90)
    finally:
        collector.stop()
    assert summary.ok, summary.to_dict()
    data = target.read_bytes()
    assert data.endswith(b"\n")
    events = 0
    for line in data.splitlines():
        if line == filler[:-1]:
            continue
        assert key_from_line(line) is not None, f"a line that is not a whole event: {line[:80]!r}"
        events += 1
    assert set(output_keys(collector)) == set(summary.acked_keys())
    assert events >= 200


def test_every_acked_event_is_in_the_files_when_wecd_is_killed_right_after(
    collector: Collector, keytab_dir: Path
) -> None:
    collector.start()
    summary = run_sim(collector, keytab_dir, machines=2, events=80, batch=8)
    collector.stop(signal.SIGKILL)  # no shutdown path: only what was written before each Ack
    assert summary.ok, summary.to_dict()
    assert set(output_keys(collector)) == set(summary.acked_keys())
    assert len(summary.acked_keys()) == 160
