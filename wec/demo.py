# SPDX-License-Identifier: GPL-3.0-or-later
"""``python -m wec.demo``: the collector on its embedded default, with events flowing.

What it does, all on loopback, all in one state directory:

1. starts a throwaway MIT KDC (realm WEC.TEST) and writes the collector's keytab
   (``HTTP/wec.test.local``) where the embedded default settings expect it;
2. ``wec db init`` and ``wec subscriptions load config/subscriptions``;
3. starts ``wecd`` with ``config/wec.toml`` (SQLite, one Kerberos collector, Files outputs);
4. runs the Windows-source simulator: a few machines authenticate with Kerberos, enumerate,
   and push SLDC-compressed, encrypted batches of realistic events;
   With ``--tls``, a second collector serves HTTPS (docs/tls.md) on ``--tls-port`` with
   certificates made by ``openssl`` (a CA, the collector's, one per machine), and as many
   machines forward over HTTPS with their client certificate;
5. shows where the events landed (JSON lines and raw XML under ``state/events/``), then
   stops everything by PID — or keeps the collector running with ``--keep-running``.

The KDC is for the demo only: production uses Active Directory (docs/kerberos.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from wec.sim.kdc import kdc_available, start_kdc, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def _say(text: str) -> None:
    print(f"\033[1;36m==>\033[0m {text}" if sys.stdout.isatty() else f"==> {text}", flush=True)


def _settings_for(state: Path, port: int, base: Path) -> Path:
    """The embedded default settings, with the state directory and port of this run."""
    text = (base / "wec.toml").read_text()
    text = re.sub(r"(?m)^state_dir = .*$", f'state_dir = "{state}"', text)
    text = re.sub(r"(?m)^keytab = .*$", f'keytab = "{state / "http.keytab"}"', text)
    text = re.sub(r"(?m)^listen_port = .*$", f"listen_port = {port}", text)
    path = state / "wec.toml"
    path.write_text(text)
    return path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_pki(directory: Path, server: str, clients: list[str]) -> None:
    """A demo CA (ECDSA P-256, as docs/tls.md recommends), the collector's certificate and
    one client certificate per machine (CN = its FQDN), with the openssl command line."""
    directory.mkdir(parents=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=directory)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "30", "-subj", "/CN=WEC Demo CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", "ca.pem", cwd=directory,
    )  # fmt: skip
    leaves = [(server, "server", f"subjectAltName=DNS:{server}\nextendedKeyUsage=serverAuth")]
    leaves += [(c, f"clients/{c}", "extendedKeyUsage=clientAuth") for c in clients]
    (directory / "clients").mkdir()
    for cn, stem, ext in leaves:
        (directory / "ext.cnf").write_text(ext + "\n")
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{stem}.key", cwd=directory)
        _openssl(
            "req", "-new", "-key", f"{stem}.key", "-subj", f"/CN={cn}", "-out", "leaf.csr", cwd=directory
        )
        _openssl(
            "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-sha256", "-days", "30", "-extfile", "ext.cnf", "-out", f"{stem}.crt", cwd=directory,
        )  # fmt: skip


def _tls_collector(port: int) -> str:
    return f"""
[[collectors]]
hostname = "wec.test.local"
listen_address = "127.0.0.1"
listen_port = {port}

[collectors.authentication]
type = "Tls"
ca_certificate = "tls/ca.pem"
server_certificate = "tls/server.crt"
server_private_key = "tls/server.key"
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wec.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--state", default=str(ROOT / "state"), help="state directory (default: ./state)")
    parser.add_argument("--port", type=int, default=5985, help="collector port (default 5985)")
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--events", type=int, default=200, help="events per machine")
    parser.add_argument("--keep-running", action="store_true", help="leave wecd running (Ctrl-C stops)")
    parser.add_argument("--tls", action="store_true", help="also an HTTPS collector and TLS machines")
    parser.add_argument("--tls-port", type=int, default=5986, help="HTTPS collector port (default 5986)")
    args = parser.parse_args(argv)

    if not kdc_available():
        print(
            "demo: the MIT KDC is not installed (apt-get install krb5-kdc krb5-admin-server)", file=sys.stderr
        )
        return 2
    state = Path(args.state).resolve()
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    config_dir = ROOT / "config"

    _say(f"starting a throwaway Kerberos KDC (realm WEC.TEST) in {state / 'kdc'}")
    kdc = start_kdc(state / "kdc", clients=tuple(f"DEMO{i:02d}$" for i in range(1, args.machines + 1)))
    shutil.copy(kdc.service_keytab, state / "http.keytab")
    env = {
        **os.environ,
        **kdc.env,
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba")),
    }
    settings = _settings_for(state, args.port, config_dir)
    tls_clients = [f"tls{i:02d}.wec.test.local" for i in range(1, args.machines + 1)]
    if args.tls:
        if shutil.which("openssl") is None:
            print("demo: --tls needs the openssl command", file=sys.stderr)
            return 2
        _say(f"making a demo CA and certificates in {state / 'tls'} (openssl)")
        _make_pki(state / "tls", "wec.test.local", tls_clients)
        with settings.open("a") as settings_file:
            settings_file.write(_tls_collector(args.tls_port))
    wec = [sys.executable, "-m", "wec.cli.main", "-c", str(settings)]
    wecd_proc: subprocess.Popen[bytes] | None = None
    try:
        _say("wec db init")
        subprocess.run([*wec, "db", "init"], env=env, check=True)
        _say("wec subscriptions load config/subscriptions --yes")
        subprocess.run(
            [*wec, "subscriptions", "load", str(config_dir / "subscriptions"), "--yes"], env=env, check=True
        )
        _say(f"starting wecd on 127.0.0.1:{args.port} (log: {state / 'wecd.log'})")
        with (state / "wecd.log").open("ab") as log:
            wecd_proc = subprocess.Popen(
                [sys.executable, "-m", "wec.cli.wecd", "-c", str(settings)], env=env, stdout=log, stderr=log
            )
        try:
            wait_for_port(args.port, timeout=60)
            if args.tls:
                wait_for_port(args.tls_port, timeout=60)
        except TimeoutError:
            print((state / "wecd.log").read_text()[-3000:], file=sys.stderr)
            raise
        # The simulator finds each machine's keytab as <NAME>.keytab (NAME without the "$").
        keytab_dir = state / "keytabs"
        keytab_dir.mkdir()
        for principal, path in kdc.client_keytabs.items():
            shutil.copy(path, keytab_dir / (principal.split("@")[0].replace("$", "") + ".keytab"))
        _say(f"simulating {args.machines} Windows machines, {args.events} events each")
        summary_file = state / "sim-summary.json"
        sim = subprocess.run(
            [
                *wec,
                "sim",
                "--manager-url",
                f"http://wec.test.local:{args.port}/wsman/SubscriptionManager/WEC",
                "--connect",
                f"127.0.0.1:{args.port}",
                "--machines",
                str(args.machines),
                "--events",
                str(args.events),
                "--batch",
                "50",
                "--json",
                "--principal",
                "DEMO{n:02d}$@WEC.TEST",
                "--keytab-dir",
                str(keytab_dir),
                "--computer",
                "demo{n:02d}.wec.test.local",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        summary_file.write_text(sim.stdout)
        if sim.returncode != 0:
            print(sim.stdout[-2000:], sim.stderr[-3000:], file=sys.stderr)
            return 1
        _report(json.loads(sim.stdout))
        if args.tls:
            _say(
                f"simulating {args.machines} machines over HTTPS (port {args.tls_port}), client certificates"
            )
            tls_sim = subprocess.run(
                [
                    *wec, "sim", "--manager-url", f"https://wec.test.local:{args.tls_port}/wsman/",
                    "--connect", f"127.0.0.1:{args.tls_port}", "--machines", str(args.machines),
                    "--events", str(args.events), "--batch", "50", "--json",
                    "--tls-ca", str(state / "tls" / "ca.pem"),
                    "--tls-client-dir", str(state / "tls" / "clients"),
                    "--computer", "tls{n:02d}.wec.test.local",
                ],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            (state / "sim-tls-summary.json").write_text(tls_sim.stdout)
            if tls_sim.returncode != 0:
                print(tls_sim.stdout[-2000:], tls_sim.stderr[-3000:], file=sys.stderr)
                return 1
            _report(json.loads(tls_sim.stdout), "HTTPS simulator")
        time.sleep(1.0)
        events_dir = state / "events"
        files = sorted(p for p in events_dir.rglob("*") if p.is_file())
        _say(f"events written under {events_dir}:")
        for f in files:
            with f.open("rb") as fh:
                lines = sum(1 for _ in fh)
            print(f"   {f.relative_to(state)}  ({lines} events)")
        json_files = [f for f in files if f.suffix == ".jsonl"]
        if json_files:
            first = json_files[0].read_text().splitlines()[0]
            _say("one event, as the Json format writes it:")
            print(json.dumps(json.loads(first), indent=2)[:2500])
        _say("try: .venv/bin/wec -c " + str(settings) + " subscriptions")
        if args.keep_running:
            _say("collector still running; Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                wecd_proc.wait()
        return 0 if files else 1
    finally:
        if wecd_proc is not None and wecd_proc.poll() is None:
            wecd_proc.send_signal(signal.SIGTERM)
            try:
                wecd_proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                wecd_proc.kill()
        kdc.stop()


def _report(summary: dict[str, object], what: str = "simulator") -> None:
    latency = summary.get("ack_latency_ms")
    p50 = latency.get("p50", 0) if isinstance(latency, dict) else 0
    rate = summary.get("events_per_s", 0)
    _say(
        f"{what}: {summary.get('events_acked')} events acked of {summary.get('events_sent')} sent, "
        f"{rate if isinstance(rate, float | int) else 0:.0f} events/s, ack p50 {p50:.1f} ms"
    )


if __name__ == "__main__":
    sys.exit(main())
