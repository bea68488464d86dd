# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings: the only reader of raw configuration.

The file is TOML with OpenWEC's keys, so an ``openwec.conf.toml`` loads unchanged
(PROTOCOL.md §11.1). dynaconf reads the file and the environment; environment overrides are
``WEC_<SECTION>__<KEY>`` (values parsed as TOML, e.g. ``WEC_SERVER__DB_SYNC_INTERVAL=10``).
Other ``WEC_*`` variables (``WEC_VECTORS`` and the like) are ignored, not rejected.

Everything is then validated into frozen dataclasses. Unknown keys are rejected with a message
naming the key, because a typo in a collector's settings ("listen_prot") must not silently
fall back to a default. wec-only keys are additions next to OpenWEC's, never renames.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wec.store.settings import DatabaseSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "AuthSettings",
    "CliSettings",
    "CollectorSettings",
    "ConfigError",
    "LoggingSettings",
    "MonitoringSettings",
    "OutputsSettings",
    "ServerSettings",
    "Settings",
    "load_settings",
    "parse_settings",
]

DEFAULT_CONFIG_PATH = "/etc/wec/wec.toml"
_SECTIONS = ("server", "logging", "database", "collectors", "cli", "outputs", "monitoring")


class ConfigError(ValueError):
    """The settings file or an override is invalid; the message names the key."""


@dataclass(frozen=True)
class ServerSettings:
    keytab: str | None = None
    node_name: str | None = None
    db_sync_interval: float = 5.0
    flush_heartbeats_interval: float = 5.0
    heartbeats_queue_size: int = 2048
    tcp_keepalive_time: int | None = 7200
    tcp_keepalive_intvl: int | None = None
    tcp_keepalive_probes: int | None = None
    # wec additions
    thread_pool_size: int = 32  # cheroot worker threads per process
    worker_processes: int = 1  # processes sharing each listening port (SO_REUSEPORT)
    max_events_per_batch: int = 20000  # bound on w:Event elements in one message
    shutdown_timeout: float = 30.0  # seconds in-flight batches get on SIGTERM
    request_timeout: float = 60.0  # seconds a client gets to send one whole request (slowloris)
    numba_cache_dir: str | None = None
    state_dir: str | None = None  # base for relative paths (SQLite path, files outputs)


@dataclass(frozen=True)
class LoggingSettings:
    verbosity: str = "warn"
    server_logs: str = "stderr"  # stderr | stdout | a file path
    server_logs_pattern: str | None = None
    access_logs: str | None = None  # None = off; stderr | stdout | a file path
    access_logs_pattern: str | None = None


@dataclass(frozen=True)
class AuthSettings:
    type: str  # "Kerberos" | "Tls"
    service_principal_name: str | None = None
    ca_certificate: str | None = None
    server_certificate: str | None = None
    server_private_key: str | None = None


@dataclass(frozen=True)
class CollectorSettings:
    listen_address: str
    authentication: AuthSettings
    hostname: str | None = None
    listen_port: int = 5985
    max_content_length: int = 512000
    enable_proxy_protocol: bool = False
    advertized_port: int | None = None

    @property
    def public_port(self) -> int:
        return self.advertized_port or self.listen_port


@dataclass(frozen=True)
class CliSettings:
    read_only_subscriptions: bool = False


@dataclass(frozen=True)
class OutputsSettings:
    garbage_collect_interval: float = 600.0
    files_descriptor_close_timeout: float = 600.0
    kafka_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitoringSettings:
    listen_address: str
    listen_port: int
    machines_refresh_interval: float = 30.0
    http_request_duration_buckets: tuple[float, ...] = (
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        2.5,
        5.0,
        10.0,
    )
    count_input_events_per_machine: bool = False
    count_input_event_bytes_per_machine: bool = False
    count_http_request_body_network_size_per_machine: bool = False
    count_http_request_body_real_size_per_machine: bool = False


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    logging: LoggingSettings
    database: DatabaseSettings
    collectors: tuple[CollectorSettings, ...]
    cli: CliSettings
    outputs: OutputsSettings
    monitoring: MonitoringSettings | None
    source: str | None = None  # the file these settings came from


# --- validation helpers -------------------------------------------------------------------


def _check_keys(where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"unknown key '{where}.{key}' (known keys: {known})")


def _typed(where: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    # bool is an int in Python: refuse `listen_port = true`.
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"'{where}' must be a number, not a boolean")
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"'{where}' must be of type {name}, got {type(value).__name__} ({value!r})")
    return value


def _kwargs(
    where: str, data: Mapping[str, Any], types: Mapping[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check keys and types of one table; returns constructor arguments."""
    _check_keys(where, data, set(types))
    for key in required:
        if data.get(key) is None:
            raise ConfigError(f"missing required key '{where}.{key}'")
    return {
        key: _typed(f"{where}.{key}", value, types[key]) for key, value in data.items() if value is not None
    }


def _build(
    cls: type, where: str, data: Mapping[str, Any], types: Mapping[str, Any], required: tuple[str, ...] = ()
) -> Any:
    return cls(**_kwargs(where, data, types, required))


def _positive(where: str, value: float | int | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"'{where}' must be positive, got {value}")


def _port(where: str, value: int | None) -> None:
    if value is not None and not 0 < value <= 65535:
        raise ConfigError(f"'{where}' must be a TCP port (1..65535), got {value}")


_SERVER_TYPES = {
    "keytab": str,
    "node_name": str,
    "db_sync_interval": float,
    "flush_heartbeats_interval": float,
    "heartbeats_queue_size": int,
    "tcp_keepalive_time": int,
    "tcp_keepalive_intvl": int,
    "tcp_keepalive_probes": int,
    "thread_pool_size": int,
    "worker_processes": int,
    "max_events_per_batch": int,
    "shutdown_timeout": float,
    "request_timeout": float,
    "numba_cache_dir": str,
    "state_dir": str,
}
_LOGGING_TYPES = {
    "verbosity": str,
    "server_logs": str,
    "server_logs_pattern": str,
    "access_logs": str,
    "access_logs_pattern": str,
}
_DATABASE_TYPES = {
    "type": str,
    "path": str,
    "host": str,
    "port": int,
    "dbname": str,
    "user": str,
    "password": str,
    "ssl_mode": str,
    "ca_file": str,
    "max_chunk_size": int,
}
_COLLECTOR_TYPES = {
    "hostname": str,
    "listen_address": str,
    "listen_port": int,
    "max_content_length": int,
    "enable_proxy_protocol": bool,
    "advertized_port": int,
    "authentication": dict,
}
_AUTH_TYPES = {
    "type": str,
    "service_principal_name": str,
    "ca_certificate": str,
    "server_certificate": str,
    "server_private_key": str,
}
_MONITORING_TYPES = {
    "listen_address": str,
    "listen_port": int,
    "machines_refresh_interval": float,
    "http_request_duration_buckets": list,
    "count_input_events_per_machine": bool,
    "count_input_event_bytes_per_machine": bool,
    "count_http_request_body_network_size_per_machine": bool,
    "count_http_request_body_real_size_per_machine": bool,
}
_VERBOSITIES = ("error", "warn", "info", "debug", "trace")


def _server(data: Mapping[str, Any]) -> ServerSettings:
    s: ServerSettings = _build(ServerSettings, "server", data, _SERVER_TYPES)
    for key in (
        "db_sync_interval",
        "flush_heartbeats_interval",
        "heartbeats_queue_size",
        "thread_pool_size",
        "worker_processes",
        "max_events_per_batch",
        "tcp_keepalive_time",
        "tcp_keepalive_intvl",
        "tcp_keepalive_probes",
        "shutdown_timeout",
        "request_timeout",
    ):
        _positive(f"server.{key}", getattr(s, key))
    return s


def _logging(data: Mapping[str, Any]) -> LoggingSettings:
    s: LoggingSettings = _build(LoggingSettings, "logging", data, _LOGGING_TYPES)
    if s.verbosity.lower() not in _VERBOSITIES:
        raise ConfigError(f"'logging.verbosity' must be one of {', '.join(_VERBOSITIES)}")
    return s


def _database(data: Mapping[str, Any]) -> DatabaseSettings:
    db: DatabaseSettings = _build(DatabaseSettings, "database", data, _DATABASE_TYPES, ("type",))
    if db.type not in ("SQLite", "Postgres"):
        raise ConfigError("'database.type' must be 'SQLite' or 'Postgres'")
    if db.type == "SQLite" and not db.path:
        raise ConfigError("missing required key 'database.path' (SQLite)")
    if db.type == "Postgres":
        for key in ("host", "dbname", "user"):
            if not getattr(db, key):
                raise ConfigError(f"missing required key 'database.{key}' (Postgres)")
        if db.ssl_mode is not None and db.ssl_mode not in ("Disable", "Prefer", "Require"):
            raise ConfigError("'database.ssl_mode' must be Disable, Prefer or Require")
        _positive("database.max_chunk_size", db.max_chunk_size)
        _port("database.port", db.port)
    return db


def _auth(where: str, data: Mapping[str, Any]) -> AuthSettings:
    auth: AuthSettings = _build(AuthSettings, where, data, _AUTH_TYPES, ("type",))
    if auth.type == "Kerberos":
        # service_principal_name may be left out: any key of the keytab is then accepted,
        # which lets HTTP/ and HOST/ (Windows Server 2025) share one port.
        for key in ("ca_certificate", "server_certificate", "server_private_key"):
            if getattr(auth, key) is not None:
                raise ConfigError(f"'{where}.{key}' is a Tls key, not valid with type = \"Kerberos\"")
    elif auth.type == "Tls":
        for key in ("ca_certificate", "server_certificate", "server_private_key"):
            if not getattr(auth, key):
                raise ConfigError(f"missing required key '{where}.{key}' (Tls)")
    else:
        raise ConfigError(f"'{where}.type' must be 'Kerberos' or 'Tls', got {auth.type!r}")
    return auth


def _collector(index: int, data: Mapping[str, Any]) -> CollectorSettings:
    where = f"collectors[{index}]"
    if not isinstance(data, Mapping):
        raise ConfigError(f"'{where}' must be a table")
    _check_keys(where, data, set(_COLLECTOR_TYPES))
    if "authentication" not in data:
        raise ConfigError(f"missing required key '{where}.authentication'")
    auth = _auth(f"{where}.authentication", _typed(f"{where}.authentication", data["authentication"], dict))
    rest = {k: v for k, v in data.items() if k != "authentication"}
    types = {k: v for k, v in _COLLECTOR_TYPES.items() if k != "authentication"}
    c = CollectorSettings(authentication=auth, **_kwargs(where, rest, types, ("listen_address",)))
    if not c.listen_address:
        raise ConfigError(f"'{where}.listen_address' must not be empty")
    _positive(f"{where}.max_content_length", c.max_content_length)
    for key in ("listen_port", "advertized_port"):
        _port(f"{where}.{key}", getattr(c, key))
    return c


def _outputs(data: Mapping[str, Any]) -> OutputsSettings:
    _check_keys("outputs", data, {"garbage_collect_interval", "files", "kafka"})
    gc = _typed("outputs.garbage_collect_interval", data.get("garbage_collect_interval", 600.0), float)
    files = _typed("outputs.files", data.get("files", {}), dict)
    _check_keys("outputs.files", files, {"files_descriptor_close_timeout"})
    timeout = _typed(
        "outputs.files.files_descriptor_close_timeout",
        files.get("files_descriptor_close_timeout", 600.0),
        float,
    )
    kafka = _typed("outputs.kafka", data.get("kafka", {}), dict)
    _check_keys("outputs.kafka", kafka, {"options"})
    options = _typed("outputs.kafka.options", kafka.get("options", {}), dict)
    _positive("outputs.garbage_collect_interval", gc)
    _positive("outputs.files.files_descriptor_close_timeout", timeout)
    return OutputsSettings(
        garbage_collect_interval=gc, files_descriptor_close_timeout=timeout, kafka_options=dict(options)
    )


def _monitoring(data: Mapping[str, Any]) -> MonitoringSettings:
    data = dict(data)
    # Older OpenWEC releases spelled it http_requests_histogram_buckets: accept both.
    legacy = data.pop("http_requests_histogram_buckets", None)
    buckets = data.pop("http_request_duration_buckets", legacy)
    m: MonitoringSettings = _build(
        MonitoringSettings,
        "monitoring",
        data,
        {k: v for k, v in _MONITORING_TYPES.items() if k != "http_request_duration_buckets"},
        ("listen_address", "listen_port"),
    )
    _port("monitoring.listen_port", m.listen_port)
    _positive("monitoring.machines_refresh_interval", m.machines_refresh_interval)
    if buckets is not None:
        if not isinstance(buckets, list) or not all(
            isinstance(b, int | float) and not isinstance(b, bool) for b in buckets
        ):
            raise ConfigError("'monitoring.http_request_duration_buckets' must be a list of numbers")
        m = MonitoringSettings(
            **{**m.__dict__, "http_request_duration_buckets": tuple(float(b) for b in buckets)}
        )
    return m


def _lower_keys(value: Any) -> Any:
    # dynaconf upper-cases keys that come from the environment; the file keeps its case.
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def parse_settings(raw: Mapping[str, Any], source: str | None = None) -> Settings:
    """Validate a plain mapping (the TOML document) into :class:`Settings`."""
    raw = _lower_keys(raw)
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(f"unknown section or key '{key}' (known: {', '.join(_SECTIONS)})")
    if "database" not in raw:
        raise ConfigError("missing required section [database]")
    collectors_raw = raw.get("collectors", [])
    if not isinstance(collectors_raw, list) or not collectors_raw:
        raise ConfigError("at least one [[collectors]] section is required")
    collectors = tuple(_collector(i, c) for i, c in enumerate(collectors_raw))
    seen: set[tuple[str, int]] = set()
    for c in collectors:
        addr = (c.listen_address, c.listen_port)
        if addr in seen:
            raise ConfigError(f"two collectors listen on {c.listen_address}:{c.listen_port}")
        seen.add(addr)
    cli = _build(
        CliSettings, "cli", _typed("cli", raw.get("cli", {}), dict), {"read_only_subscriptions": bool}
    )
    monitoring = raw.get("monitoring")
    return Settings(
        server=_server(_typed("server", raw.get("server", {}), dict)),
        logging=_logging(_typed("logging", raw.get("logging", {}), dict)),
        database=_database(_typed("database", raw["database"], dict)),
        collectors=collectors,
        cli=cli,
        outputs=_outputs(_typed("outputs", raw.get("outputs", {}), dict)),
        monitoring=_monitoring(_typed("monitoring", monitoring, dict)) if monitoring is not None else None,
        source=source,
    )


_DYNACONF_INTERNAL = {"load_dotenv"}


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings file (default ``/etc/wec/wec.toml``) plus ``WEC_<SECTION>__<KEY>``
    environment overrides, and validate them."""
    from dynaconf import Dynaconf

    file = Path(path or os.environ.get("WEC_CONFIG") or DEFAULT_CONFIG_PATH)
    if not file.is_file():
        raise ConfigError(f"settings file not found: {file}")
    try:
        with file.open("rb") as fh:
            file_keys = {k.lower() for k in tomllib.load(fh)}
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: invalid TOML: {err}") from err
    env = dict(os.environ if environ is None else environ)
    # Only WEC_<SECTION>__<KEY> are overrides; anything else with the prefix is not ours.
    overrides = {
        k: v
        for k, v in env.items()
        if k.startswith("WEC_") and k[4:].split("__", 1)[0].lower() in _SECTIONS and "__" in k
    }
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("WEC_")}
    os.environ.update(overrides)
    try:
        dyn = Dynaconf(
            settings_files=[str(file)],
            envvar_prefix="WEC",
            environments=False,
            load_dotenv=False,
            merge_enabled=True,
            # dynaconf would otherwise turn file strings such as a password "@json [1]" or
            # "@int 5" into other values; OpenWEC's files must load unchanged (PROTOCOL.md
            # §11.1). Environment values are still parsed as TOML.
            auto_cast=False,
        )
        data = _lower_keys(dyn.as_dict())
    except Exception as err:  # dynaconf raises a variety of parse errors
        raise ConfigError(f"{file}: {err}") from err
    finally:
        for k in overrides:
            os.environ.pop(k, None)
        os.environ.update(saved)
    data = {k: v for k, v in data.items() if k not in _DYNACONF_INTERNAL}
    # Unknown top-level keys from the file are errors; from the environment we never add them.
    for key in list(data):
        if key not in file_keys and key not in _SECTIONS:
            del data[key]
    settings = parse_settings(data, source=str(file))
    return _resolve_paths(settings, file.parent)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths in the settings are relative to ``server.state_dir`` if set, else to the
    settings file's directory: the embedded default config works from any working directory."""
    root = Path(settings.server.state_dir) if settings.server.state_dir else base
    if not root.is_absolute():
        root = (base / root).resolve()
    db = settings.database
    if db.path and not Path(db.path).is_absolute():
        db = DatabaseSettings(**{**db.__dict__, "path": str(root / db.path)})
    keytab = settings.server.keytab
    server = settings.server
    # docs/settings.md: a relative keytab starts from state_dir too, like database.path.
    if keytab and not Path(keytab).is_absolute():
        server = ServerSettings(**{**server.__dict__, "keytab": str(root / keytab)})
    if server.state_dir != str(root):
        server = ServerSettings(**{**server.__dict__, "state_dir": str(root)})
    return Settings(**{**settings.__dict__, "database": db, "server": server})
