# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus metrics, with OpenWEC's names and labels (docs/protocol.md §11.3), so existing
dashboards and alerts keep working after a switch.

One :class:`Metrics` object per process, on its own registry (tests build several). The
``[monitoring]`` settings section turns the HTTP endpoint on; without it the counters are
still kept (cheap) but not served. The ``count_*_per_machine`` switches add a ``machine``
label (the authenticated client) to the per-machine counters: useful, but one series per
source, so off by default as in OpenWEC.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from wec.config import MonitoringSettings
from wec.metrics_env import MULTIPROC_ENV
from wec.sanitize import escape_controls

__all__ = ["Metrics", "start_monitoring"]

log = logging.getLogger("wec.metrics")

_SUB = ("subscription_uuid", "subscription_name")


class Metrics:
    # Distinct ``uri`` label values kept; later new paths share the "(other)" series. Any
    # domain account can authenticate, and some 200s (auth-only POST, End) accept any path.
    MAX_URIS = 256
    OTHER_URI = "(other)"

    def __init__(
        self, settings: MonitoringSettings | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        s = settings
        self.events_per_machine = bool(s and s.count_input_events_per_machine)
        self.event_bytes_per_machine = bool(s and s.count_input_event_bytes_per_machine)
        self.network_per_machine = bool(s and s.count_http_request_body_network_size_per_machine)
        self.real_per_machine = bool(s and s.count_http_request_body_real_size_per_machine)
        buckets = s.http_request_duration_buckets if s else Histogram.DEFAULT_BUCKETS
        r = self.registry
        self._uris: set[str] = set()
        self._uris_lock = threading.Lock()
        self.input_events = Counter(
            "openwec_input_events",
            "Events received",
            [*_SUB, *(["machine"] if self.events_per_machine else [])],
            registry=r,
        )
        self.input_event_bytes = Counter(
            "openwec_input_event_bytes",
            "Bytes of event XML received",
            [*_SUB, *(["machine"] if self.event_bytes_per_machine else [])],
            registry=r,
        )
        self.input_messages = Counter(
            "openwec_input_messages", "SOAP messages received", ["action"], registry=r
        )
        self.parsing_failures = Counter(
            "openwec_input_event_parsing_failures",
            "Events that could not be parsed as-is",
            [*_SUB, "type"],
            registry=r,
        )
        self.http_requests = Counter("openwec_http_requests", "HTTP requests", ["uri", "code"], registry=r)
        self.http_duration = Histogram(
            "openwec_http_request_duration_seconds",
            "HTTP request duration",
            ["uri"],
            buckets=buckets,
            registry=r,
        )
        self.body_network = Counter(
            "openwec_http_request_body_network_size_bytes",
            "Request body bytes on the wire",
            ["uri", *(["machine"] if self.network_per_machine else [])],
            registry=r,
        )
        self.body_real = Counter(
            "openwec_http_request_body_real_size_bytes",
            "Request body bytes after decryption and decompression",
            ["uri", *(["machine"] if self.real_per_machine else [])],
            registry=r,
        )
        self.driver_failures = Counter(
            "openwec_output_driver_failures", "Batches an output refused", [*_SUB, "driver"], registry=r
        )
        self.format_failures = Counter(
            "openwec_output_format_failures", "Events a format could not write", [*_SUB, "format"], registry=r
        )
        # wec additions (docs/security.md, "Attribution").
        self.client_collisions = Counter(
            "wec_client_name_collisions",
            "Requests refused: the principal renders to the Files {client} of another principal",
            registry=r,
        )
        self.computer_mismatches = Counter(
            "wec_computer_mismatch_events",
            "Events whose System/Computer is not the authenticated host",
            [*_SUB, "action"],
            registry=r,
        )
        # With several worker processes only worker 0 refreshes it: keep its latest value.
        self.machines = Gauge(
            "openwec_machines",
            "Sources per state",
            [*_SUB, "state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )

    # --- helpers used by the transport and the service ---------------------------------------

    def _bounded_uri(self, uri: str) -> str:
        if uri in self._uris:
            return uri
        with self._uris_lock:
            if len(self._uris) >= self.MAX_URIS:
                return self.OTHER_URI
            self._uris.add(uri)
        return uri

    def http(self, uri: str, code: int, seconds: float, network: int, real: int, machine: str | None) -> None:
        # Both come from the client: keep them one printable line in every exposition.
        uri = self._bounded_uri(escape_controls(uri))
        machine = escape_controls(machine) if machine is not None else None
        self.http_requests.labels(uri, str(code)).inc()
        self.http_duration.labels(uri).observe(seconds)
        if network:
            labels = [uri, machine or ""] if self.network_per_machine else [uri]
            self.body_network.labels(*labels).inc(network)
        if real:
            labels = [uri, machine or ""] if self.real_per_machine else [uri]
            self.body_real.labels(*labels).inc(real)

    def events(self, uuid: str, name: str, machine: str, events: Iterable[str]) -> None:
        count = total = 0
        for e in events:
            count += 1
            # The UTF-8 size; an ASCII event (most of them) has it without being encoded
            # (str.isascii reads a flag the string carries).
            total += len(e) if e.isascii() else len(e.encode("utf-8"))
        self.input_events.labels(uuid, name, *([machine] if self.events_per_machine else [])).inc(count)
        self.input_event_bytes.labels(uuid, name, *([machine] if self.event_bytes_per_machine else [])).inc(
            total
        )

    def set_machines(self, uuid: str, name: str, counts: dict[str, int]) -> None:
        for state, n in counts.items():
            self.machines.labels(uuid, name, state).set(n)

    def forget_subscription(self, uuid: str, name: str) -> None:
        for state in ("Active", "Alive", "Dead"):
            with contextlib.suppress(KeyError):
                self.machines.remove(uuid, name, state)


def start_monitoring(settings: MonitoringSettings, metrics: Metrics) -> Any:
    """Serve ``/metrics`` on the monitoring address; returns the HTTP server (``shutdown()``)."""
    server, thread = start_http_server(
        settings.listen_port, settings.listen_address, registry=metrics.registry
    )
    log.info("metrics on http://%s:%d/metrics", settings.listen_address, server.server_port)
    assert isinstance(thread, threading.Thread)
    return server


def start_multiprocess_monitoring(settings: MonitoringSettings) -> Any:
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, _ = start_http_server(settings.listen_port, settings.listen_address, registry=registry)
    log.info("metrics of all workers on http://%s:%d/metrics", settings.listen_address, server.server_port)
    return server


def worker_died(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
