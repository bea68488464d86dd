# SPDX-License-Identifier: GPL-3.0-or-later
"""Settings: the only reader of raw configuration.

The file is TOML with OpenWEC's keys, so an ``openwec.conf.toml`` loads unchanged
(docs/settings.md). It is named by ``-c`` (else ``$WEC_CONFIG``, else the default), made
absolute against the current directory and read exactly once: never searched for, so a
relative ``-c state/wec.toml`` cannot pick up another directory's file. dynaconf then layers
the environment on it with its ``WEC`` prefix and ``__`` nesting: ``WEC_<SECTION>__<KEY>``
(values parsed as TOML, e.g. ``WEC_SERVER__DB_SYNC_INTERVAL=10``). Other ``WEC_*`` variables
(``WEC_VECTORS`` and the like) are ignored, not rejected.

Everything is then validated into frozen dataclasses. A dataclass field is the whole
definition of a setting: its type, its default, and in its metadata its bounds (``positive``,
``port``), its place in the TOML document (``toml``, when nested) and older spellings
(``aliases``). Unknown keys are rejected with a message naming the key, because a typo in a
collector's settings ("listen_prot") must not silently fall back to a default. wec-only keys
are additions next to OpenWEC's, never renames.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wec.store.settings import DatabaseSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "AuthSettings",
    "CliSettings",
    "CollectorSettings",
    "ConfigError",
    "LoggingSettings",
    "MonitoringSettings",
    "OutputsSettings",
    "ServerSettings",
    "Settings",
    "describe_database",
    "load_settings",
    "parse_settings",
    "settings_path",
]

DEFAULT_CONFIG_PATH = "/etc/wec/wec.toml"
ENV_PREFIX = "WEC"  # WEC_<SECTION>__<KEY> overrides one key


class ConfigError(ValueError):
    """The settings file or an override is invalid; the message names the key."""


def _meta(
    *, positive: bool = False, port: bool = False, toml: str | None = None, aliases: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Field metadata read by the validation below: bounds, the key's dotted path inside its
    section when it is nested (``files.files_descriptor_close_timeout``), accepted old names."""
    assert toml is None or toml.count(".") == 1, "one level of nesting, as in [outputs.files]"
    return {"positive": positive, "port": port, "toml": toml, "aliases": aliases}


_POSITIVE = _meta(positive=True)
_PORT = _meta(port=True)


@dataclass(frozen=True)
class ServerSettings:
    keytab: str | None = None
    node_name: str | None = None
    db_sync_interval: float = field(default=5.0, metadata=_POSITIVE)
    flush_heartbeats_interval: float = field(default=5.0, metadata=_POSITIVE)
    heartbeats_queue_size: int = field(default=2048, metadata=_POSITIVE)
    tcp_keepalive_time: int | None = field(default=7200, metadata=_POSITIVE)
    tcp_keepalive_intvl: int | None = field(default=None, metadata=_POSITIVE)
    tcp_keepalive_probes: int | None = field(default=None, metadata=_POSITIVE)
    # wec additions
    # cheroot worker threads per process
    thread_pool_size: int = field(default=32, metadata=_POSITIVE)
    # processes sharing each listening port (SO_REUSEPORT)
    worker_processes: int = field(default=1, metadata=_POSITIVE)
    # bound on w:Event elements in one message
    max_events_per_batch: int = field(default=20000, metadata=_POSITIVE)
    # seconds in-flight batches get on SIGTERM
    shutdown_timeout: float = field(default=30.0, metadata=_POSITIVE)
    # seconds a client gets to send one whole request (slowloris)
    request_timeout: float = field(default=60.0, metadata=_POSITIVE)
    # seconds from a request's first byte to its complete header block (no thread waits meanwhile)
    header_timeout: float = field(default=10.0, metadata=_POSITIVE)
    # bytes per second a request body must at least arrive at (its deadline: 5 s + length / rate)
    min_body_rate: float = field(default=8192.0, metadata=_POSITIVE)
    # open connections per process, all collectors together; beyond it a fast 503
    max_connections: int = field(default=16384, metadata=_POSITIVE)
    # unauthenticated connections per source address (after PROXY protocol); 0 = no cap
    max_connections_per_address: int = 64
    # complete requests waiting for a busy thread before new ones get a fast 503
    max_queued_requests: int = field(default=64, metadata=_POSITIVE)
    # Events requests of one subscription delivering at the same time (per process); beyond
    # it, 503 at once. None: a quarter of thread_pool_size (at least 1). docs/operations.md
    max_requests_per_subscription: int | None = field(default=None, metadata=_POSITIVE)
    # Kerberos: accept only computer accounts (principals ending in "$"), as Windows WEC's
    # default "Domain Computers" access does; false accepts any principal (OpenWEC).
    kerberos_machine_accounts_only: bool = True
    numba_cache_dir: str | None = None
    state_dir: str | None = None  # base for relative paths (SQLite path, files outputs)

    @property
    def subscription_request_limit(self) -> int:
        """``max_requests_per_subscription``, or its default: a quarter of the threads."""
        return self.max_requests_per_subscription or max(1, self.thread_pool_size // 4)


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
    # wec addition: a PEM file of CRLs, one per CA, checked against client certificates
    crl_file: str | None = None


@dataclass(frozen=True)
class CollectorSettings:
    listen_address: str
    authentication: AuthSettings
    hostname: str | None = None
    listen_port: int = field(default=5985, metadata=_PORT)
    max_content_length: int = field(default=512000, metadata=_POSITIVE)
    enable_proxy_protocol: bool = False
    advertized_port: int | None = field(default=None, metadata=_PORT)

    @property
    def public_port(self) -> int:
        return self.advertized_port or self.listen_port


@dataclass(frozen=True)
class CliSettings:
    read_only_subscriptions: bool = False


@dataclass(frozen=True)
class OutputsSettings:
    garbage_collect_interval: float = field(default=600.0, metadata=_POSITIVE)
    files_descriptor_close_timeout: float = field(
        default=600.0, metadata=_meta(positive=True, toml="files.files_descriptor_close_timeout")
    )
    # Open output files per process: beyond it the least recently written one is closed
    # (one file per machine path would otherwise reach the descriptor limit).
    files_max_open: int = field(default=512, metadata=_meta(positive=True, toml="files.files_max_open"))
    kafka_options: dict[str, Any] = field(default_factory=dict, metadata=_meta(toml="kafka.options"))
    # wec additions (docs/outputs.md, "Deadlines")
    # seconds a batch waits for its outputs before it is refused (503)
    write_timeout: float = field(default=45.0, metadata=_POSITIVE)
    # threads running output writes, shared by every subscription of the process
    write_threads: int = field(default=16, metadata=_POSITIVE)


@dataclass(frozen=True)
class MonitoringSettings:
    listen_address: str
    listen_port: int = field(metadata=_PORT)
    machines_refresh_interval: float = field(default=30.0, metadata=_POSITIVE)
    # Older OpenWEC releases spelled it http_requests_histogram_buckets: accept both.
    http_request_duration_buckets: tuple[float, ...] = field(
        default=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        metadata=_meta(aliases=("http_requests_histogram_buckets",)),
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


# The top-level tables of the file: every field of Settings but `source`.
_SECTIONS = tuple(f.name for f in dataclasses.fields(Settings) if f.name != "source")


def describe_database(db: DatabaseSettings) -> str:
    """One line naming the database, for ``wec db status``, ``-v`` and wecd's start-up log
    (never the password)."""
    if db.type == "SQLite":
        return f"SQLite {db.path}"
    return f"{db.type} {db.user}@{db.host}:{db.port}/{db.dbname}"


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


def _positive(where: str, value: float | int | None) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"'{where}' must be positive, got {value}")


def _port(where: str, value: int | None) -> None:
    if value is not None and not 0 < value <= 65535:
        raise ConfigError(f"'{where}' must be a TCP port (1..65535), got {value}")


def _kind(hint: Any) -> Any:
    """What a field's annotation accepts from TOML: ``int | None`` → int, ``dict[str, Any]``
    → dict, a settings dataclass → dict (a table), ``tuple[float, ...]`` → itself (a list of
    numbers in the file)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is dict or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        return dict
    return hint


def _numbers(where: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise ConfigError(f"'{where}' must be a list of numbers")
    return tuple(float(v) for v in value)


def _table(
    cls: type,
    where: str,
    data: Mapping[str, Any],
    tables: Mapping[str, Callable[[str, Mapping[str, Any]], Any]] | None = None,
) -> Any:
    """Validate one TOML table against the settings dataclass ``cls`` and build it: the keys,
    types, required keys and bounds all come from the dataclass fields. ``tables`` builds the
    fields that are themselves validated tables (a collector's ``authentication``)."""
    hints = typing.get_type_hints(cls)
    specs = [(f, (f.metadata.get("toml") or f.name).split(".")) for f in dataclasses.fields(cls)]
    allowed = {path[0] for _, path in specs}
    allowed.update(a for f, _ in specs for a in f.metadata.get("aliases", ()))
    _check_keys(where, data, allowed)
    nested: dict[str, Mapping[str, Any]] = {}
    for _, path in specs:
        if len(path) == 2 and path[0] not in nested:
            sub = _typed(f"{where}.{path[0]}", data.get(path[0], {}), dict)
            _check_keys(f"{where}.{path[0]}", sub, {p[1] for _, p in specs if p[0] == path[0]})
            nested[path[0]] = sub
    kwargs: dict[str, Any] = {}
    for f, path in specs:
        key = f"{where}.{'.'.join(path)}"
        table = nested[path[0]] if len(path) == 2 else data
        value: Any = table.get(path[-1])
        for alias in f.metadata.get("aliases", ()):
            if value is None:
                value = data.get(alias)
        if value is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key '{key}'")
            continue
        kind = _kind(hints[f.name])
        if tables and f.name in tables:
            value = tables[f.name](key, _typed(key, value, dict))
        elif typing.get_origin(kind) is tuple:
            value = _numbers(key, value)
        else:
            value = _typed(key, value, kind)
            if kind is dict:
                value = dict(value)
        if f.metadata.get("positive"):
            _positive(key, value)
        if f.metadata.get("port"):
            _port(key, value)
        kwargs[f.name] = value
    return cls(**kwargs)


_VERBOSITIES = ("error", "warn", "info", "debug", "trace")


def _logging(data: Mapping[str, Any]) -> LoggingSettings:
    s: LoggingSettings = _table(LoggingSettings, "logging", data)
    if s.verbosity.lower() not in _VERBOSITIES:
        raise ConfigError(f"'logging.verbosity' must be one of {', '.join(_VERBOSITIES)}")
    return s


def _database(data: Mapping[str, Any]) -> DatabaseSettings:
    db: DatabaseSettings = _table(DatabaseSettings, "database", data)
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
    auth: AuthSettings = _table(AuthSettings, where, data)
    if auth.type == "Kerberos":
        # service_principal_name may be left out: any key of the keytab is then accepted,
        # which lets HTTP/ and HOST/ (Windows Server 2025) share one port.
        for key in ("ca_certificate", "server_certificate", "server_private_key", "crl_file"):
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
    c: CollectorSettings = _table(CollectorSettings, where, data, {"authentication": _auth})
    if not c.listen_address:
        raise ConfigError(f"'{where}.listen_address' must not be empty")
    return c


def _lower_keys(value: Any) -> Any:
    # dynaconf upper-cases keys that come from the environment; the file keeps its case.
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _check_sections(raw: Mapping[str, Any]) -> None:
    for key in raw:
        if key not in _SECTIONS:
            raise ConfigError(f"unknown section or key '{key}' (known: {', '.join(_SECTIONS)})")


def parse_settings(raw: Mapping[str, Any], source: str | None = None) -> Settings:
    """Validate a plain mapping (the TOML document) into :class:`Settings`."""
    raw = _lower_keys(raw)
    _check_sections(raw)
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
    monitoring = raw.get("monitoring")
    return Settings(
        server=_table(ServerSettings, "server", _typed("server", raw.get("server", {}), dict)),
        logging=_logging(_typed("logging", raw.get("logging", {}), dict)),
        database=_database(_typed("database", raw["database"], dict)),
        collectors=collectors,
        cli=_table(CliSettings, "cli", _typed("cli", raw.get("cli", {}), dict)),
        outputs=_table(OutputsSettings, "outputs", _typed("outputs", raw.get("outputs", {}), dict)),
        monitoring=(
            _table(MonitoringSettings, "monitoring", _typed("monitoring", monitoring, dict))
            if monitoring is not None
            else None
        ),
        source=source,
    )


# --- reading the file and the environment ---------------------------------------------------


def settings_path(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """The settings file to read: ``path`` (``-c``), else ``$WEC_CONFIG``, else
    ``/etc/wec/wec.toml``; a relative name is taken from the current directory and made
    absolute here, so that nothing downstream can look for it anywhere else."""
    env = os.environ if environ is None else environ
    name = os.fspath(path) if path else env.get("WEC_CONFIG") or DEFAULT_CONFIG_PATH
    return Path(os.path.abspath(name))


def _is_override(name: str) -> bool:
    """``SECTION__KEY`` (the prefix already cut) names a key of a known section; the
    ``[[collectors]]`` list can only be replaced whole (``WEC_COLLECTORS``)."""
    section, nested, _ = name.partition("__")
    return section.lower() in _SECTIONS and (bool(nested) or section.lower() == "collectors")


def _only_overrides(data: dict[str, Any]) -> dict[str, Any]:
    # dynaconf's filter_strategy: what its environment loader keeps of the WEC_* variables.
    return {k: v for k, v in data.items() if _is_override(k)}


def _with_environment(document: Mapping[str, Any], environ: Mapping[str, str] | None) -> dict[str, Any]:
    """The file's tables with the ``WEC_<SECTION>__<KEY>`` overrides of ``environ`` (the
    process environment when None) applied by dynaconf."""
    from dynaconf import Dynaconf
    from dynaconf.loaders.env_loader import load_from_env
    from dynaconf.utils.parse_conf import boolean_fix, parse_conf_data

    dyn = Dynaconf(
        envvar_prefix=ENV_PREFIX,
        environments=False,
        load_dotenv=False,
        # A whole-value override (WEC_COLLECTORS) replaces the list; `__` keys still only
        # change their own key of the section.
        merge_enabled=False,
        # dynaconf would otherwise turn file strings such as a password "@json [1]" or
        # "@int 5" into other values; OpenWEC's files must load unchanged
        # (docs/design.md §5.7). Environment values are still parsed as TOML.
        auto_cast=False,
        filter_strategy=_only_overrides,
        # Set-up loads dynaconf's defaults only: no file loader (the file was read once,
        # above; SETTINGS_FILE_FOR_DYNACONF cannot add another) and the environment is
        # loaded below, after the file's values, so that it overrides them.
        core_loaders=[],
        loaders=[],
    )
    dyn.update({k.upper(): v for k, v in document.items()}, loader_identifier="settings_file")
    if environ is None:
        load_from_env(dyn, ENV_PREFIX, identifier="env_global")
    else:
        # A given environment (tests, embedding): the same prefix, filter and parsing as
        # dynaconf's loader applies to os.environ, which it cannot be pointed elsewhere from.
        cut = len(ENV_PREFIX) + 1
        given = {
            k[cut:]: parse_conf_data(boolean_fix(v), tomlfy=True, box_settings=dyn)
            for k, v in environ.items()
            if k.startswith(f"{ENV_PREFIX}_")
        }
        dyn.update(_only_overrides(given), loader_identifier="env_global")
    data = dyn.as_dict()
    return {k.lower(): v for k, v in data.items() if k.lower() in _SECTIONS}


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the settings file (see :func:`settings_path`) plus ``WEC_<SECTION>__<KEY>``
    environment overrides, and validate them."""
    file = settings_path(path, environ)
    if not file.is_file():
        raise ConfigError(f"settings file not found: {file}")
    try:
        with file.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{file}: invalid TOML: {err}") from err
    except OSError as err:
        raise ConfigError(f"{file}: {err.strerror or err}") from err
    document = _lower_keys(document)
    _check_sections(document)  # before dynaconf sees the keys: none may set its own options
    try:
        data = _with_environment(document, environ)
    except ConfigError:
        raise
    except Exception as err:  # dynaconf raises a variety of parse errors
        raise ConfigError(f"{file}: environment overrides: {err}") from err
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
    collectors = tuple(_resolve_tls_paths(c, root) for c in settings.collectors)
    return Settings(**{**settings.__dict__, "database": db, "server": server, "collectors": collectors})


_TLS_FILES = ("ca_certificate", "server_certificate", "server_private_key", "crl_file")


def _resolve_tls_paths(collector: CollectorSettings, root: Path) -> CollectorSettings:
    """The TLS files of a collector, relative to the same root as the keytab."""
    auth = collector.authentication
    changed = {
        key: str(root / value)
        for key in _TLS_FILES
        if (value := getattr(auth, key)) is not None and not Path(value).is_absolute()
    }
    if not changed:
        return collector
    return dataclasses.replace(collector, authentication=dataclasses.replace(auth, **changed))
