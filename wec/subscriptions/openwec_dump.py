# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscriptions in the shape of OpenWEC's export (schema ``V2``), so that scripts written for
``openwec subscriptions export`` read wec's export unchanged (the reverse of
:mod:`wec.subscriptions.openwec_export`).

Each entry has OpenWEC's keys with OpenWEC's value shapes: every option at the top level
(``null`` where unset), ``filter`` as ``{"operation": "Only" | "Except" | null, "princs":
[...]}``, and ``outputs`` whose ``driver`` is a one-key object around the driver's
configuration, with OpenWEC's key names (Tcp's ``addr``) and types (Kafka options as strings).
wec's own keys stand beside OpenWEC's, never instead: a driver configuration keeps its wec
keys (``framing``, ``syslog``, ``timeout``…), which OpenWEC ignores when it reads them. Outputs
whose driver OpenWEC does not have (MongoDB, Relp) are left out of ``outputs``: the export keeps
them in each entry's ``wec`` key, the complete wec form, which wec imports from.
"""

from __future__ import annotations

from typing import Any

from wec.model import FilterKind, OutputConfig, Subscription

__all__ = ["OPENWEC_DRIVERS", "OPENWEC_SCHEMA", "openwec_entry"]

OPENWEC_SCHEMA = "V2"
OPENWEC_DRIVERS = ("Files", "Tcp", "Redis", "Kafka", "UnixDatagram")


def _kafka_option(value: Any) -> str:
    if isinstance(value, bool):  # librdkafka spells booleans in lower case
        return "true" if value else "false"
    return str(value)


def _driver_config(output: OutputConfig) -> dict[str, Any]:
    config = dict(output.config)
    if output.driver == "Tcp":
        host = config.pop("host", None) or config.pop("addr", None)
        return {
            "addr": host,
            "port": config.pop("port", None),
            "tls_enabled": bool(config.pop("tls_enabled", False)),
            "tls_certificate_authorities": list(config.pop("tls_certificate_authorities", []) or []),
            "tls_certificate": config.pop("tls_certificate", None),
            "tls_key": config.pop("tls_key", None),
            **config,
        }
    if output.driver == "Kafka":
        options = config.pop("options", {}) or {}
        return {
            "topic": config.pop("topic", None),
            "options": {str(k): _kafka_option(v) for k, v in options.items()},
            **config,
        }
    return config  # Files {path}, Redis {addr, list}, UnixDatagram {path}: already OpenWEC's keys


def _filter(sub: Subscription) -> dict[str, Any]:
    f = sub.filter
    if f is None:
        return {"operation": None, "princs": []}
    out: dict[str, Any] = {"operation": f.operation.value, "princs": sorted(f.targets)}
    # Newer OpenWEC releases know these; V2 readers ignore them.
    if f.kind is not FilterKind.CLIENT:
        out["kind"] = f.kind.value
    flags = [name for name, on in (("CaseInsensitive", f.case_insensitive), ("GlobPattern", f.glob)) if on]
    if flags:
        out["flags"] = flags
    return out


def openwec_entry(sub: Subscription) -> dict[str, Any]:
    """One subscription as OpenWEC's V2 export entry (without the ``wec`` key)."""
    return {
        "uuid": sub.uuid,
        "revision": sub.revision,
        "name": sub.name,
        "uri": sub.uri,
        "query": sub.query,
        "heartbeat_interval": sub.heartbeat_interval,
        "connection_retry_count": sub.connection_retry_count,
        "connection_retry_interval": sub.connection_retry_interval,
        "max_time": sub.max_time,
        "max_elements": sub.max_elements,
        "max_envelope_size": sub.max_envelope_size,
        "enabled": sub.enabled,
        "read_existing_events": sub.read_existing_events,
        "content_format": sub.content_format.value,
        "ignore_channel_error": sub.ignore_channel_error,
        "locale": sub.locale,
        "data_locale": sub.data_locale,
        "filter": _filter(sub),
        "outputs": [
            {"format": o.format, "driver": {o.driver: _driver_config(o)}, "enabled": o.enabled}
            for o in sub.outputs
            if o.driver in OPENWEC_DRIVERS
        ],
    }
