# SPDX-License-Identifier: GPL-3.0-or-later
"""Overload run: many connections at once, each sending a maximum-size authenticated body.

    .venv/bin/python -m bench.overload --connections 500 [--body 512000] [--threads 32]

Each connection authenticates for real (its own Kerberos AP-REQ in the ``Authorization``
header, so wecd reads the body) and sends ``--body`` bytes that do not decrypt: wecd answers
400 once it has read them, or a fast 503 when every thread is busy and
``server.max_queued_requests`` requests wait. Reports the peak RSS of wecd (``VmHWM`` from
/proc), the statuses, and the wall time. What it shows (docs/operations.md): memory follows
the thread pool, not the number of connections. Bounded: ``--duration`` seconds at most.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gssapi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import Collector, subscription_toml  # noqa: E402
from wec.sim.kdc import start_kdc  # noqa: E402
from wec.sim.transport import acquire_credentials  # noqa: E402


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _token(creds: gssapi.Credentials) -> str:
    name = gssapi.Name("HTTP@wec.test.local", gssapi.NameType.hostbased_service)
    flags = (
        gssapi.RequirementFlag.mutual_authentication
        | gssapi.RequirementFlag.confidentiality
        | gssapi.RequirementFlag.integrity
    )
    ctx = gssapi.SecurityContext(name=name, creds=creds, usage="initiate", flags=flags)
    return base64.b64encode(ctx.step() or b"").decode()


def _one(port: int, token: str, body: bytes, deadline: float) -> str:
    head = (
        "POST /wsman/SubscriptionManager/WEC HTTP/1.1\r\nHost: wec.test.local\r\n"
        f"Authorization: Kerberos {token}\r\n"
        'Content-Type: multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";'
        'boundary="Encrypted Boundary"\r\n'
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    timeout = max(1.0, deadline - time.monotonic())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(head)
            with contextlib.suppress(OSError):  # refused before the body was read: the answer says why
                s.sendall(body)
            answer = s.recv(64)
    except OSError as err:
        return type(err).__name__
    return answer[9:12].decode(errors="replace") if answer.startswith(b"HTTP/1.1 ") else "closed"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=int, default=500)
    p.add_argument("--body", type=int, default=512000, help="bytes per body (max_content_length)")
    p.add_argument("--threads", type=int, default=32, help="server.thread_pool_size")
    p.add_argument("--duration", type=float, default=120.0, help="upper bound of the run, seconds")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="wec-overload-"))
    kdc = start_kdc(work / "kdc", clients=("LOAD001$",))
    kdc.apply_env()
    collector = Collector(
        work / "collector",
        kdc,
        extra_settings=f"thread_pool_size = {args.threads}\nmax_connections_per_address = 0",
        max_content_length=args.body,
    )
    collector.add_subscription(subscription_toml())
    result: dict[str, Any] = {}
    try:
        collector.start()
        assert collector.proc is not None
        pid = collector.proc.pid
        idle_rss = _status_kb(pid, "VmRSS")
        creds = acquire_credentials("LOAD001$@WEC.TEST", str(kdc.client_keytabs["LOAD001$@WEC.TEST"]))
        tokens = [_token(creds) for _ in range(args.connections)]
        body = os.urandom(args.body)
        statuses: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration

        def client(token: str) -> None:
            status = _one(collector.port, token, body, deadline)
            with lock:
                statuses[status] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        seconds = time.monotonic() - started
        result = {
            "connections": args.connections,
            "body_bytes": args.body,
            "thread_pool_size": args.threads,
            "statuses": dict(statuses),
            "unanswered": sum(t.is_alive() for t in threads),
            "seconds": round(seconds, 2),
            "wecd_rss_idle_mib": round(idle_rss / 1024, 1),
            "wecd_rss_peak_mib": round(_status_kb(pid, "VmHWM") / 1024, 1),
            "bytes_offered_mib": round(args.connections * args.body / 2**20, 1),
        }
    finally:
        collector.stop()
        kdc.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"machine": {"nproc": os.cpu_count()}, "result": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
