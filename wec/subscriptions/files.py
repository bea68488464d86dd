# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscription files: OpenWEC's TOML format (PROTOCOL.md §11.2), read and written.

One file holds one subscription::

    uuid = "…"            # required, stable: it is the NotifyTo path and the bookmark key
    name = "…"            # required, unique
    query = '''<QueryList>…</QueryList>'''
    [options]             # optional, every option of PROTOCOL.md §7
    [filter]              # optional client filter
    [[outputs]]           # one or more: driver × format, with a driver-specific [outputs.config]

Like OpenWEC, unknown keys are errors: a typo must not silently become a default. Every
problem raises :class:`SubscriptionFileError` naming the file and the key.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wec.subscriptions import _toml
from wec.subscriptions.model import (
    ClientFilter,
    ContentFormat,
    FilterKind,
    FilterOperation,
    OutputConfig,
    Subscription,
)
from wec.subscriptions.query import QueryError, parse_query


def check_output_config(driver: str, fmt: str, config: dict[str, Any]) -> None:
    """Build (and close) the driver to validate its configuration; it opens no connection."""
    from wec.outputs.context import DriverContext
    from wec.outputs.registry import build_driver

    build_driver(driver, dict(config), DriverContext(format_name=fmt, check_only=True)).close()


__all__ = [
    "DRIVERS",
    "FORMATS",
    "SubscriptionFileError",
    "dump_subscription",
    "files_legacy_path",
    "load_file",
    "load_path",
    "parse_document",
    "parse_subscription",
    "skeleton",
    "subscription_document",
]

DRIVERS = ("Files", "Tcp", "Redis", "Kafka", "UnixDatagram", "MongoDB", "Relp")
FORMATS = ("Raw", "RawJson", "Json", "Nxlog")

_TOP_KEYS = frozenset({"uuid", "version", "name", "query", "options", "filter", "outputs"})
_FILTER_KEYS = frozenset({"operation", "type", "flags", "targets", "princs", "cert_subjects"})
_OUTPUT_KEYS = frozenset({"driver", "format", "enabled", "config"})
_FLAGS = {"CaseInsensitive": "case_insensitive", "GlobPattern": "glob"}
_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF


class SubscriptionFileError(ValueError):
    """A subscription file (or text) is invalid; the message names the file and the key."""


class _Reader:
    """Checks one parsed TOML document, prefixing every error with where it came from."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, message: str) -> SubscriptionFileError:
        return SubscriptionFileError(f"{self.source}: {message}")

    def keys(self, table: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(f"unknown key {k!r} in {where} (allowed: {', '.join(sorted(allowed))})")

    def string(self, table: Mapping[str, Any], k: str, where: str, *, required: bool = False) -> str | None:
        v = table.get(k)
        if v is None:
            if required:
                raise self.fail(f"missing required key {k!r} in {where}")
            return None
        if not isinstance(v, str):
            raise self.fail(f"{where} {k!r} must be a string, not {_kind(v)}")
        return v

    def boolean(self, table: Mapping[str, Any], k: str, where: str) -> bool | None:
        v = table.get(k)
        if v is not None and not isinstance(v, bool):
            raise self.fail(f"{where} {k!r} must be true or false, not {_kind(v)}")
        return v

    def integer(self, table: Mapping[str, Any], k: str, where: str, low: int, high: int) -> int | None:
        v = table.get(k)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"{where} {k!r} must be an integer, not {_kind(v)}")
        if not low <= v <= high:
            raise self.fail(f"{where} {k!r} = {v} is out of range {low}..{high}")
        return v

    def choice(self, table: Mapping[str, Any], k: str, where: str, allowed: tuple[str, ...]) -> str | None:
        v = self.string(table, k, where)
        if v is not None and v not in allowed:
            raise self.fail(f"{where} {k!r} = {v!r} is not one of {', '.join(allowed)}")
        return v

    def table(self, doc: Mapping[str, Any], k: str) -> Mapping[str, Any] | None:
        v = doc.get(k)
        if v is not None and not isinstance(v, dict):
            raise self.fail(f"{k!r} must be a table ([{k}]), not {_kind(v)}")
        return v


def _kind(v: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(v), type(v).__name__)


# -- reading ---------------------------------------------------------------------------------------
def parse_subscription(text: str, *, source: str = "<text>", revision: str | None = None) -> Subscription:
    """Parse one subscription file's text. ``revision`` is ``load --revision``'s value."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SubscriptionFileError(f"{source}: invalid TOML: {err}") from err
    return parse_document(doc, source=source, revision=revision)


def parse_document(
    doc: Mapping[str, Any],
    *,
    source: str = "<document>",
    revision: str | None = None,
    allow_no_outputs: bool = False,
) -> Subscription:
    """Check an already-decoded subscription document (the TOML file's tables, or the same
    shape from JSON, see :mod:`wec.subscriptions.export`) with exactly the file's rules.

    ``allow_no_outputs`` admits a subscription without outputs (never offered to sources), as
    ``wec subscriptions new`` creates them; files must have one."""
    r = _Reader(source)
    if not isinstance(doc, Mapping):
        raise r.fail(f"a subscription must be a table, not {_kind(doc)}")
    r.keys(doc, _TOP_KEYS, "the file")

    raw_uuid = r.string(doc, "uuid", "the file", required=True)
    assert raw_uuid is not None
    try:
        uuid = Subscription.canonical_uuid(raw_uuid)
    except ValueError:
        raise r.fail(f"uuid {raw_uuid!r} is not a valid UUID") from None
    # OpenWEC accepts (and ignores) a "version" UUID left by older exports.
    version = r.string(doc, "version", "the file")
    if version is not None:
        try:
            Subscription.canonical_uuid(version)
        except ValueError:
            raise r.fail(f"version {version!r} is not a valid UUID") from None
    name = r.string(doc, "name", "the file", required=True)
    assert name is not None
    if not name.strip():
        raise r.fail("name must not be empty")
    query = r.string(doc, "query", "the file", required=True)
    assert query is not None
    try:
        parse_query(query)
    except QueryError as err:
        raise r.fail(f"query: {err}") from err

    options = _options(r, r.table(doc, "options") or {})
    filter_table = r.table(doc, "filter")
    client_filter = None if filter_table is None else _filter(r, filter_table)
    raw_outputs = doc.get("outputs")
    outputs = () if allow_no_outputs and raw_outputs in (None, []) else _outputs(r, raw_outputs)
    return Subscription(
        uuid=uuid, name=name, query=query, revision=revision, filter=client_filter, outputs=outputs, **options
    )


def _options(r: _Reader, t: Mapping[str, Any]) -> dict[str, Any]:
    w = "[options]"
    allowed = frozenset(
        {
            "enabled", "uri", "heartbeat_interval", "connection_retry_count", "connection_retry_interval",
            "max_time", "max_elements", "max_envelope_size", "read_existing_events", "content_format",
            "ignore_channel_error", "locale", "data_locale",
        }
    )  # fmt: skip
    r.keys(t, allowed, w)
    out: dict[str, Any] = {
        "uri": r.string(t, "uri", w),
        "heartbeat_interval": r.integer(t, "heartbeat_interval", w, 1, _U32),
        # 0 retries is meaningful (give up at once); OpenWEC stores a u16.
        "connection_retry_count": r.integer(t, "connection_retry_count", w, 0, _U16),
        "connection_retry_interval": r.integer(t, "connection_retry_interval", w, 1, _U32),
        "max_time": r.integer(t, "max_time", w, 1, _U32),
        "max_elements": r.integer(t, "max_elements", w, 1, _U32),
        "max_envelope_size": r.integer(t, "max_envelope_size", w, 1, _U32),
        "enabled": r.boolean(t, "enabled", w),
        "read_existing_events": r.boolean(t, "read_existing_events", w),
        "ignore_channel_error": r.boolean(t, "ignore_channel_error", w),
        "locale": r.string(t, "locale", w),
        "data_locale": r.string(t, "data_locale", w),
    }
    fmt = r.choice(t, "content_format", w, tuple(c.value for c in ContentFormat))
    if fmt is not None:
        out["content_format"] = ContentFormat(fmt)
    # Unset options keep the model's defaults, except those whose default *is* "unset".
    nullable = {"uri", "max_elements", "locale", "data_locale"}
    return {k: v for k, v in out.items() if v is not None or k in nullable}


def parse_flags(text: str, where: str = "flags") -> dict[str, bool]:
    """``"GlobPattern | CaseInsensitive"`` → ``{"glob": True, "case_insensitive": True}``."""
    flags = {"glob": False, "case_insensitive": False}
    for part in text.split("|"):
        name = part.strip()
        if not name:
            continue
        if name not in _FLAGS:
            raise SubscriptionFileError(f"{where}: unknown flag {name!r} (known: {', '.join(_FLAGS)})")
        flags[_FLAGS[name]] = True
    return flags


def _filter(r: _Reader, t: Mapping[str, Any]) -> ClientFilter | None:
    w = "[filter]"
    r.keys(t, _FILTER_KEYS, w)
    given = [k for k in ("targets", "princs", "cert_subjects") if k in t]
    if len(given) > 1:
        raise r.fail(f"{w} gives the targets twice ({' and '.join(given)}); use only 'targets'")
    raw = t.get(given[0], []) if given else []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise r.fail(f"{w} {given[0] if given else 'targets'!r} must be an array of strings")
    targets = tuple(dict.fromkeys(raw))  # OpenWEC keeps a set; we keep the order, without repeats
    kind = r.choice(t, "type", w, tuple(k.value for k in FilterKind))
    flags_text = r.string(t, "flags", w) or ""
    flags = parse_flags(flags_text, f"{r.source}: {w} flags")
    operation = r.choice(t, "operation", w, tuple(o.value for o in FilterOperation))
    if operation is None:
        # OpenWEC reads a filter without operation as "no filtering".
        return None
    return ClientFilter(
        operation=FilterOperation(operation),
        kind=FilterKind(kind) if kind is not None else FilterKind.CLIENT,
        targets=targets,
        **flags,
    )


def files_legacy_path(
    base: str | None, split_on_addr_index: int | None, append_node_name: bool | None, filename: str | None
) -> str:
    """The ``path`` template equivalent to OpenWEC's pre-0.2 Files keys.

    ``base/[{ip:N}/…/{ip:3}/]{ip}/{principal}/[{node}/]filename``, where the ``{ip:i}`` levels
    run from ``split_on_addr_index`` to 3 and ``filename`` defaults to ``messages``.
    """
    parts: list[str] = []
    if split_on_addr_index is not None:
        parts.extend(f"{{ip:{i}}}" for i in range(split_on_addr_index, 4))
    parts += ["{ip}", "{principal}"]
    if append_node_name:
        parts.append("{node}")
    parts.append(filename if filename is not None else "messages")
    return posixpath.join(base or "", *parts)


def _check_json_values(r: _Reader, v: Any, where: str) -> None:
    # Configurations are stored as JSON: TOML dates and times have no JSON form.
    if isinstance(v, dict):
        for k, x in v.items():
            _check_json_values(r, x, f"{where}.{k}")
    elif isinstance(v, list):
        for x in v:
            _check_json_values(r, x, where)
    elif not isinstance(v, str | int | float | bool):
        raise r.fail(f"{where} holds a {type(v).__name__}; use a string")


_LEGACY_FILES_KEYS = ("base", "split_on_addr_index", "append_node_name", "filename")


def _files_config(r: _Reader, c: dict[str, Any], w: str) -> dict[str, Any]:
    """OpenWEC's legacy Files keys become ``path``; every other key is the driver's to check."""
    rest = {k: v for k, v in c.items() if k not in _LEGACY_FILES_KEYS}
    if r.string(c, "path", w) is not None:
        return rest  # like OpenWEC, an explicit path wins over the legacy keys
    split = r.integer(c, "split_on_addr_index", w, 0, 255)
    append = r.boolean(c, "append_node_name", w)
    rest["path"] = files_legacy_path(r.string(c, "base", w), split, append, r.string(c, "filename", w))
    return rest


def _tcp_config(r: _Reader, c: dict[str, Any], w: str) -> dict[str, Any]:
    if "host" in c and "addr" in c:
        raise r.fail(f"{w} gives both 'host' and its old name 'addr'; keep 'host'")
    out = dict(c)
    if "addr" in out:
        out["host"] = out.pop("addr")
    if r.string(out, "host", w, required=True) is None:  # pragma: no cover - required raises
        raise r.fail(f"{w} needs 'host'")
    r.integer(out, "port", w, 1, 65535)
    r.boolean(out, "tls_enabled", w)
    r.string(out, "tls_certificate", w)
    r.string(out, "tls_key", w)
    cas = out.get("tls_certificate_authorities")
    if isinstance(cas, str):
        out["tls_certificate_authorities"] = [cas]  # OpenWEC accepts one path or a list
    elif cas is not None and (not isinstance(cas, list) or not all(isinstance(x, str) for x in cas)):
        raise r.fail(f"{w} 'tls_certificate_authorities' must be a string or an array of strings")
    return out


_CONFIG_READERS: dict[str, Callable[[_Reader, dict[str, Any], str], dict[str, Any]]] = {
    "Files": _files_config,
    "Tcp": _tcp_config,
}


def _outputs(r: _Reader, raw: Any) -> tuple[OutputConfig, ...]:
    if raw is None or raw == []:
        raise r.fail("a subscription needs at least one [[outputs]]")
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise r.fail("'outputs' must be an array of tables ([[outputs]])")
    result = []
    for i, o in enumerate(raw):
        w = f"[[outputs]] #{i + 1}"
        r.keys(o, _OUTPUT_KEYS, w)
        driver = r.choice(o, "driver", w, DRIVERS)
        fmt = r.choice(o, "format", w, FORMATS)
        if driver is None or fmt is None:
            raise r.fail(f"{w} needs both 'driver' and 'format'")
        enabled = r.boolean(o, "enabled", w)
        config = o.get("config", {})
        if not isinstance(config, dict):
            raise r.fail(f"{w} 'config' must be a table ([outputs.config])")
        cw = f"{w} config"
        _check_json_values(r, config, cw)
        reader = _CONFIG_READERS.get(driver)
        if reader is not None:  # OpenWEC's old spellings → today's keys
            config = reader(r, config, cw)
        # The driver itself is the one judge of its keys (unknown, missing, wrong type), so the
        # file loader and the running server can never disagree about a configuration.
        try:
            check_output_config(driver, fmt, config)
        except (ValueError, ImportError) as err:
            raise r.fail(f"{cw}: {err}") from err
        config = dict(config)
        result.append(
            OutputConfig(
                driver=driver, format=fmt, config=config, enabled=True if enabled is None else enabled
            )
        )
    return tuple(result)


def load_file(path: str | Path, *, revision: str | None = None) -> Subscription:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SubscriptionFileError(f"{p}: cannot read: {err}") from err
    return parse_subscription(text, source=str(p), revision=revision)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def load_path(path: str | Path, *, revision: str | None = None) -> list[Subscription]:
    """One file, or every ``*.toml`` below a directory, subdirectories included (OpenWEC reads
    directories recursively, and a subscription kept in a subfolder must not be taken for a
    deleted one). Sorted by relative path; hidden files and folders are skipped.

    Two files with the same uuid or the same name are an error naming both.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(
            (f for f in p.rglob("*.toml") if f.is_file() and not _hidden(f.relative_to(p))),
            key=lambda f: f.relative_to(p).parts,
        )
    elif p.exists():
        files = [p]
    else:
        raise SubscriptionFileError(f"{p}: no such file or directory")
    subs: list[Subscription] = []
    by_uuid: dict[str, Path] = {}
    by_name: dict[str, Path] = {}
    for f in files:
        sub = load_file(f, revision=revision)
        if sub.uuid in by_uuid:
            raise SubscriptionFileError(f"{f}: uuid {sub.uuid} is already used by {by_uuid[sub.uuid]}")
        if sub.name in by_name:
            raise SubscriptionFileError(f"{f}: name {sub.name!r} is already used by {by_name[sub.name]}")
        by_uuid[sub.uuid] = by_name[sub.name] = f
        subs.append(sub)
    return subs


# -- writing ---------------------------------------------------------------------------------------
def subscription_document(sub: Subscription) -> dict[str, Any]:
    """The subscription as the tables of its file (every option explicit, unset ones left out):
    :func:`parse_document` reads it back equal, except for the revision, which is not part of
    the file format."""
    options: dict[str, Any] = {
        "enabled": sub.enabled,
        "uri": sub.uri,
        "heartbeat_interval": sub.heartbeat_interval,
        "connection_retry_count": sub.connection_retry_count,
        "connection_retry_interval": sub.connection_retry_interval,
        "max_time": sub.max_time,
        "max_elements": sub.max_elements,
        "max_envelope_size": sub.max_envelope_size,
        "read_existing_events": sub.read_existing_events,
        "content_format": sub.content_format.value,
        "ignore_channel_error": sub.ignore_channel_error,
        "locale": sub.locale,
        "data_locale": sub.data_locale,
    }
    doc: dict[str, Any] = {
        "uuid": sub.uuid,
        "name": sub.name,
        "query": sub.query,
        "options": {k: v for k, v in options.items() if v is not None},
    }
    if sub.filter is not None:
        f = sub.filter
        doc["filter"] = {"operation": f.operation.value, "type": f.kind.value, "targets": list(f.targets)}
        if f.glob or f.case_insensitive:
            doc["filter"]["flags"] = _flags_text(f)
    doc["outputs"] = [
        {"driver": o.driver, "format": o.format, "enabled": o.enabled, "config": dict(o.config)}
        for o in sub.outputs
    ]
    return doc


def _flags_text(f: ClientFilter) -> str:
    names = [
        name
        for name, attr in (("GlobPattern", "glob"), ("CaseInsensitive", "case_insensitive"))
        if getattr(f, attr)
    ]
    return " | ".join(names)


def dump_subscription(sub: Subscription) -> str:
    """The subscription as a file that :func:`parse_subscription` reads back equal.

    Every option is written, so the file says what the source gets; unset optional ones are
    left as comments. The revision is not part of the format (it comes from ``load --revision``).
    """
    v = _toml.value
    lines = ["# wec subscription (OpenWEC format)"]
    if sub.revision is not None:
        lines.append(f"# loaded with revision {sub.revision!r}")
    lines += [
        f"uuid = {v(sub.uuid)}",
        f"name = {v(sub.name)}",
        f"query = {_toml.multiline(sub.query)}",
        "",
        "[options]",
        f"enabled = {v(sub.enabled)}",
    ]

    def optional(k: str, value: Any) -> str:
        return f"{k} = {v(value)}" if value is not None else f"# {k} = (unset)"

    lines += [
        optional("uri", sub.uri),
        f"heartbeat_interval = {v(sub.heartbeat_interval)}",
        f"connection_retry_count = {v(sub.connection_retry_count)}",
        f"connection_retry_interval = {v(sub.connection_retry_interval)}",
        f"max_time = {v(sub.max_time)}",
        optional("max_elements", sub.max_elements),
        f"max_envelope_size = {v(sub.max_envelope_size)}",
        f"read_existing_events = {v(sub.read_existing_events)}",
        f"content_format = {v(sub.content_format.value)}",
        f"ignore_channel_error = {v(sub.ignore_channel_error)}",
        optional("locale", sub.locale),
        optional("data_locale", sub.data_locale),
    ]
    if sub.filter is not None:
        f = sub.filter
        lines += ["", "[filter]", f"operation = {v(f.operation.value)}", f"type = {v(f.kind.value)}"]
        if f.glob or f.case_insensitive:
            lines.append(f"flags = {v(_flags_text(f))}")
        lines.append(f"targets = {v(list(f.targets))}")
    for o in sub.outputs:
        lines += [
            "",
            "[[outputs]]",
            f"driver = {v(o.driver)}",
            f"format = {v(o.format)}",
            f"enabled = {v(o.enabled)}",
        ]
        if o.config:
            lines.append("")
            lines += _toml.table("outputs.config", o.config)
    return "\n".join(lines) + "\n"


_SKELETON = """\
# A wec subscription (OpenWEC's format). Load it with: wec subscriptions load <this file or its directory>
# Loading a directory deletes the subscriptions that are not in it, unless --keep is given.

# Identifies the subscription to the sources and keys their bookmarks: never change it.
uuid = "{uuid}"
# Unique; sources see it (SubscriptionName).
name = "my-subscription"

# Which events to forward: a <QueryList> (build it in the Event Viewer's "Filter Current Log", XML tab).
# Adding a channel later makes every source send that channel's whole history.
query = '''
<QueryList>
  <Query Id="0">
    <Select Path="Security">*</Select>
    <Select Path="System">*</Select>
  </Query>
</QueryList>'''
{options}
# Where events go: at least one output, each a driver (Files, Tcp, Redis, Kafka, UnixDatagram, MongoDB, Relp)
# and a format (Raw, RawJson, Json, Nxlog).
[[outputs]]
driver = "Files"
format = "Json"
enabled = true

[outputs.config]
# Variables: {{ip}}, {{ip:N}} (first N parts of the address), {{client}} (alias {{principal}}), {{node}}.
path = "/var/log/wec/{{ip:2}}/{{ip}}/{{client}}/messages"
"""

_SKELETON_OPTIONS = """
[options]
# Offered to sources only when true (and at least one output is enabled).
# enabled = true
# Offer only to sources that enumerate on this URI (unset: every URI).
# uri = "/wsman/SubscriptionManager/WEC"
# Seconds between heartbeats of an idle source; also the window for "alive" machines.
# heartbeat_interval = 3600
# How often, and every how many seconds, a source retries an unreachable collector.
# connection_retry_count = 5
# connection_retry_interval = 60
# Seconds a source may hold events before sending them (latency). Presets: 30 (min-latency),
# 900 (normal), 21600 (min-bandwidth, with heartbeat_interval = 21600).
# max_time = 30
# Events per batch (unset: as many as fit in max_envelope_size).
# max_elements = 100
# Largest message a source sends, in bytes.
# max_envelope_size = 512000
# On first subscribe, send the events already in the logs, not only new ones.
# read_existing_events = false
# Raw, or RenderedText (adds the rendered message, about 2-3 times the bytes).
# content_format = "Raw"
# Tolerate channels of the query that a source cannot read.
# ignore_channel_error = true
# Language of rendered messages and of data.
# locale = "en-US"
# data_locale = "en-US"

# Which sources may use this subscription (unset: all of them).
# [filter]
# operation = "Only"                     # Only | Except
# type = "Client"                        # Client (Kerberos principal / certificate CN) | MachineID
# flags = "GlobPattern | CaseInsensitive"
# targets = ["WIN10$@WINDOMAIN.LOCAL", "SRV*@WINDOMAIN.LOCAL"]
"""


def skeleton(minimal: bool = False) -> str:
    """A commented template with a fresh uuid; it loads as is."""
    return _SKELETON.format(uuid=Subscription.new_uuid(), options="" if minimal else _SKELETON_OPTIONS)
