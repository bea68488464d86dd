# SPDX-License-Identifier: GPL-3.0-or-later
"""Run N simulated machines in parallel (one thread each) and summarise what happened.

Identities. Each machine ``n`` (1-based) gets ``computer_format.format(n=n)`` as its FQDN and
``principal_format.format(n=n)`` as its Kerberos principal:

* **one principal per machine** (``"SIM{n:03d}$@WEC.TEST"``): each machine is a distinct client
  for the collector, so bookmarks, heartbeats and ``{client}`` paths are per machine — the
  realistic set-up, needed for bookmark tests. Keytabs come from ``keytab_dir/<NAME>.keytab``
  (``NAME`` = the principal before ``@`` without ``$``, e.g. ``SIM001.keytab``) or from a
  ``keytab`` containing ``{n}``;
* **TLS** (``tls_client_dir``): the identity is the certificate's CN, i.e. the FQDN; each
  machine presents ``<FQDN>.crt``/``<FQDN>.key`` (or ``<FQDN>.pem``) from that directory;
* **one shared principal** (no ``{`` in the format, one ``keytab``): cheap for load tests, but
  the collector keys bookmarks by principal, so the machines overwrite each other's bookmark.
  Bookmark adoption is therefore switched off for them (each machine starts from its first
  event); the ``(Computer, Channel, EventRecordID)`` keys stay unique.

Every machine runs at most ``duration_s`` and sends at most ``events``; the runner joins each
thread with a bounded wait and stops stragglers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wec.sim.events import EventKey
from wec.sim.machine import Machine, MachineConfig, MachineStats

__all__ = ["RunConfig", "Summary", "machine_configs", "percentile", "run_machines"]


@dataclass(frozen=True, slots=True)
class RunConfig:
    template: MachineConfig  # its computer/principal/keytab are replaced per machine
    machines: int = 1
    computer_format: str = "sim{n:03d}.wec.test.local"
    principal_format: str | None = None  # None = template.principal for all (shared)
    keytab: str | None = None  # shared keytab, or a path format with {n}
    keytab_dir: str | None = None  # per-machine keytabs named after the principal
    # tls: per-machine <FQDN>.crt and <FQDN>.key (the CN is the FQDN), or one <FQDN>.pem
    tls_client_dir: str | None = None
    first: int = 1  # number of the first machine


@dataclass
class Summary:
    machines: int
    duration_s: float
    events_sent: int = 0
    events_acked: int = 0
    events_resent: int = 0
    batches_sent: int = 0
    batches_acked: int = 0
    resent: int = 0
    heartbeats_sent: int = 0
    heartbeats_acked: int = 0
    failed_batches: int = 0
    enumerations: int = 0
    subscriptions: int = 0
    keyless_events_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    ack_latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, max
    per_machine: list[MachineStats] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events_acked / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every event sent was acknowledged and no stream gave up."""
        return (
            self.events_acked == self.events_sent
            and self.failed_batches == 0
            and self.enumerations >= self.machines
        )

    def acked_keys(self) -> list[EventKey]:
        """Keys of every acknowledged event (only with ``track_keys``); duplicates = re-acks."""
        return [k for m in self.per_machine for k in m.acked_keys]

    def to_dict(self) -> dict[str, Any]:
        return {
            "machines": self.machines,
            "events_sent": self.events_sent,
            "events_acked": self.events_acked,
            "events_resent": self.events_resent,
            "batches_sent": self.batches_sent,
            "batches_acked": self.batches_acked,
            "resent": self.resent,
            "heartbeats_sent": self.heartbeats_sent,
            "heartbeats_acked": self.heartbeats_acked,
            "failed_batches": self.failed_batches,
            "enumerations": self.enumerations,
            "subscriptions": self.subscriptions,
            "keyless_events_sent": self.keyless_events_sent,
            "errors": dict(sorted(self.errors.items())),
            "events_per_s": round(self.events_per_s, 1),
            "ack_latency_ms": self.ack_latency_ms,
            "duration_s": round(self.duration_s, 3),
            "ok": self.ok,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 < p ≤ 100) of ``values``; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100.0 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def _keytab_for(cfg: RunConfig, n: int, principal: str | None) -> str | None:
    if cfg.keytab_dir and principal:
        name = principal.split("@", 1)[0].replace("$", "")
        return str(Path(cfg.keytab_dir) / f"{name}.keytab")
    if cfg.keytab:
        return cfg.keytab.format(n=n) if "{" in cfg.keytab else cfg.keytab
    return cfg.template.keytab


def _tls_files(directory: Path, computer: str) -> tuple[str, str]:
    """A machine's certificate and key in ``directory``: ``<FQDN>.crt`` + ``<FQDN>.key``, or
    one ``<FQDN>.pem`` holding both."""
    pem = directory / f"{computer}.pem"
    if pem.exists():
        return str(pem), str(pem)
    return str(directory / f"{computer}.crt"), str(directory / f"{computer}.key")


def machine_configs(cfg: RunConfig) -> list[MachineConfig]:
    """The per-machine configurations of a run (see the module doc for identities)."""
    shared = cfg.principal_format is None or "{" not in cfg.principal_format
    out = []
    for n in range(cfg.first, cfg.first + cfg.machines):
        principal = cfg.principal_format.format(n=n) if cfg.principal_format else cfg.template.principal
        computer = cfg.computer_format.format(n=n)
        keytab = _keytab_for(cfg, n, principal)
        mc = replace(cfg.template, computer=computer, principal=principal, keytab=keytab)
        if cfg.tls_client_dir:
            cert, key = _tls_files(Path(cfg.tls_client_dir), computer)
            mc = replace(mc, auth="tls", tls_cert=cert, tls_key=key)
        elif mc.auth == "tls" and mc.tls_cert and "{" in mc.tls_cert:
            mc = replace(
                mc, tls_cert=mc.tls_cert.format(n=n), tls_key=mc.tls_key.format(n=n) if mc.tls_key else None
            )
        if mc.auth == "tls":
            shared = bool(mc.tls_cert) and mc.tls_cert == cfg.template.tls_cert
        if shared and cfg.machines > 1 and cfg.template.auth != "plain":
            mc = replace(mc, adopt_bookmarks=False)
        out.append(mc)
    return out


def summarise(stats: list[MachineStats], duration_s: float) -> Summary:
    s = Summary(machines=len(stats), duration_s=duration_s, per_machine=stats)
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for m in stats:
        s.events_sent += m.events_sent
        s.events_acked += m.events_acked
        s.events_resent += m.events_resent
        s.batches_sent += m.batches_sent
        s.batches_acked += m.batches_acked
        s.resent += m.resent
        s.heartbeats_sent += m.heartbeats_sent
        s.heartbeats_acked += m.heartbeats_acked
        s.failed_batches += m.failed_batches
        s.enumerations += m.enumerations
        s.subscriptions += m.subscriptions
        s.keyless_events_sent += m.keyless_events_sent
        errors.update(m.errors)
        latencies.extend(m.ack_latencies_ms)
    s.errors = dict(errors)
    s.ack_latency_ms = {
        "p50": round(percentile(latencies, 50), 2),
        "p90": round(percentile(latencies, 90), 2),
        "p99": round(percentile(latencies, 99), 2),
        "max": round(max(latencies, default=0.0), 2),
    }
    return s


def run_machines(cfg: RunConfig, stop_event: threading.Event | None = None) -> Summary:
    """Run every machine of ``cfg`` in its own thread; return when all are done (bounded)."""
    stop = stop_event or threading.Event()
    if cfg.template.compression != "off":
        # Compile (or load) the SLDC encoder once, before the clock starts and before the
        # machines' threads would all wait for the same compilation.
        from wec.sim import sldc

        sldc.warm_up()
    machines = [Machine(mc, stop) for mc in machine_configs(cfg)]
    results: list[MachineStats | None] = [None] * len(machines)

    def work(i: int) -> None:
        try:
            results[i] = machines[i].run()
        except Exception as err:  # a bug in one machine must not hide the others' results
            machines[i].stats.note("exception", repr(err))
            results[i] = machines[i].stats

    t0 = time.monotonic()
    threads = [
        threading.Thread(target=work, args=(i,), name=f"sim-{m.config.computer}", daemon=True)
        for i, m in enumerate(machines)
    ]
    for t in threads:
        t.start()
    limit = t0 + cfg.template.duration_s + 3 * cfg.template.timeout_s + 10
    for t in threads:
        t.join(max(0.0, limit - time.monotonic()))
    if any(t.is_alive() for t in threads):
        stop.set()
        for t in threads:
            t.join(cfg.template.timeout_s + 5)
    duration = time.monotonic() - t0
    stats = [r if r is not None else machines[i].stats for i, r in enumerate(results)]
    return summarise(stats, duration)
