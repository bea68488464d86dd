# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec sim``: smoke-test or load a collector with simulated Windows sources.

Example (three machines, each with its own principal and keytab)::

    wec sim --manager-url http://wec.corp.example:5985/wsman/SubscriptionManager/WEC \\
        --principal 'SIM{n:03d}$@CORP.EXAMPLE' --keytab-dir /etc/wec-sim/keytabs \\
        --machines 3 --events 1000 --batch 100 --json

Over HTTPS, each machine presents its own client certificate (CN = its FQDN)::

    wec sim --manager-url https://wec.corp.example:5986/wsman/ --tls-ca /etc/wec-sim/ca.pem \
        --tls-client-dir /etc/wec-sim/clients --computer 'sim{n:03d}.corp.example' --machines 3

Exit status: 0 when every event sent was acknowledged, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Literal

from wec.sim.machine import MachineConfig
from wec.sim.runner import RunConfig, run_machines

__all__ = ["build_parser", "main"]


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def build_parser(prog: str = "wec sim") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Simulate Windows Event Forwarding sources.")
    p.add_argument("--manager-url", required=True, help="the GPO Server= URL of the Subscription Manager")
    p.add_argument(
        "--connect",
        type=_host_port,
        metavar="HOST:PORT",
        help="TCP target of every connection (when the URL's host is only an SPN name)",
    )
    p.add_argument("--spn-host", help="service host for HTTP@host (default: each URL's host)")
    p.add_argument("--spn-service", default="HTTP", choices=("HTTP", "HOST"))
    p.add_argument("--principal", help="client principal, or a format such as 'SIM{n:03d}$@REALM'")
    p.add_argument("--keytab", help="client keytab (shared), or a path format with {n}")
    p.add_argument("--keytab-dir", help="directory of per-machine keytabs <NAME>.keytab")
    p.add_argument("--computer", default="sim{n:03d}.wec.test.local", help="FQDN format of the machines")
    p.add_argument("--machines", type=_positive_int, default=1)
    p.add_argument("--events", type=int, default=100, help="events per machine (upper bound)")
    p.add_argument("--batch", type=_positive_int, default=100, help="events per batch")
    p.add_argument("--batch-interval", type=float, default=0.0, help="seconds between batches of a stream")
    p.add_argument("--duration", type=float, default=300.0, help="wall-clock limit in seconds")
    p.add_argument(
        "--rendered",
        action="store_true",
        default=None,
        help="always add RenderingInfo (default: follow the subscription's ContentFormat)",
    )
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--negotiate", action="store_true", help="Negotiate/SPNEGO instead of bare Kerberos")
    auth.add_argument("--plain", action="store_true", help="no authentication, plain SOAP (debugging only)")
    tls = p.add_argument_group("TLS (https:// manager URL, docs/tls.md)")
    tls.add_argument("--tls-ca", metavar="PEM", help="CA(s) that signed the collector's certificate")
    tls.add_argument(
        "--tls-client-dir",
        metavar="DIR",
        help="per-machine client certificates: <FQDN>.crt + <FQDN>.key, or <FQDN>.pem",
    )
    tls.add_argument("--tls-cert", metavar="PEM", help="one client certificate (a path format with {n})")
    tls.add_argument("--tls-key", metavar="PEM", help="its private key (a path format with {n})")
    p.add_argument(
        "--no-compression", action="store_true", help="never SLDC-compress (not Windows behaviour)"
    )
    p.add_argument(
        "--ignore-query", action="store_true", help="send every channel whatever the query selects"
    )
    p.add_argument("--bookmark-event", action="store_true", help="start each stream with event 111")
    p.add_argument("--illegal-every", type=int, default=0, metavar="N", help="put U+0005 in every Nth event")
    p.add_argument("--refresh", type=float, help="re-enumerate every S seconds (GPO Refresh)")
    p.add_argument("--subscription-end", action="store_true", help="send SubscriptionEnd + End at the end")
    p.add_argument("--retries", type=int, default=5, help="resends of one batch before giving up")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.events < 0 or args.duration <= 0:
        parser.print_usage(sys.stderr)
        print("wec sim: --events must be >= 0 and --duration > 0", file=sys.stderr)
        return 2
    tls = bool(args.tls_client_dir or args.tls_cert)
    if tls and (args.plain or args.negotiate or not args.tls_ca):
        parser.print_usage(sys.stderr)
        print("wec sim: TLS needs --tls-ca, and excludes --plain/--negotiate", file=sys.stderr)
        return 2
    if args.tls_cert and not args.tls_key:
        print("wec sim: --tls-cert needs --tls-key", file=sys.stderr)
        return 2
    auth: Literal["kerberos", "negotiate", "plain", "tls"] = (
        "tls" if tls else "plain" if args.plain else "negotiate" if args.negotiate else "kerberos"
    )
    template = MachineConfig(
        manager_url=args.manager_url,
        computer="",
        principal=args.principal if args.principal and "{" not in args.principal else None,
        keytab=args.keytab if args.keytab and "{" not in args.keytab else None,
        auth=auth,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        spn_host=args.spn_host,
        spn_service=args.spn_service,
        connect_to=args.connect,
        events=args.events,
        batch_size=args.batch,
        batch_interval_s=args.batch_interval,
        duration_s=args.duration,
        rendered=args.rendered,
        seed=args.seed,
        base_time=datetime.now(UTC),
        illegal_char_every=args.illegal_every,
        bookmark_event=args.bookmark_event,
        honour_query=not args.ignore_query,
        compression="off" if args.no_compression else "auto",
        max_retries=args.retries,
        refresh_s=args.refresh,
        send_subscription_end=args.subscription_end,
        timeout_s=args.timeout,
    )
    run = RunConfig(
        template=template,
        machines=args.machines,
        computer_format=args.computer,
        principal_format=args.principal,
        keytab=args.keytab,
        keytab_dir=args.keytab_dir,
        tls_client_dir=args.tls_client_dir,
    )
    summary = run_machines(run)
    if args.json:
        print(summary.to_json())
    else:
        d = summary.to_dict()
        print(
            f"machines {d['machines']}: {d['events_acked']}/{d['events_sent']} events acked in "
            f"{d['batches_acked']}/{d['batches_sent']} batches, {d['resent']} resends, "
            f"{d['events_per_s']} ev/s, {d['duration_s']} s"
        )
        print(f"ack latency ms: {d['ack_latency_ms']}")
        if d["errors"]:
            print(f"errors: {d['errors']}")
        for m in summary.per_machine:
            for msg in m.messages[:3]:
                print(f"  {m.computer}: {msg}", file=sys.stderr)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
