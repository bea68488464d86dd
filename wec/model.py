# SPDX-License-Identifier: GPL-3.0-or-later
"""The subscription model: every option OpenWEC knows, with OpenWEC's defaults.

This module is pure data and near the bottom of wec's layers: it imports nothing of wec but
:mod:`wec.principals` (how client filters compare identities). It is
shared by the store (persistence), the protocol core (which turns a subscription into a
Subscribe envelope), the service (which applies client filters), the subscription files and
the CLI. Nothing here does I/O.

Each option is described once, on its :class:`Subscription` field (type, default, bounds,
whether sources see it, help text); :data:`OPTIONS` lists them as :class:`OptionSpec`. The
store codec, the file reader and writer, the OpenWEC import and the CLI are derived from that
list, so adding an option means adding a field here (and its database column, a migration
in ``wec/store/migrations/``).

Which fields a Windows source can *see* matters: only those feed the subscription version
(docs/protocol.md §3.7), see :data:`CLIENT_VISIBLE_FIELDS`.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import types
import typing
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from wec.principals import canonical_principal

__all__ = [
    "CLIENT_VISIBLE_FIELDS",
    "OPTIONS",
    "U16",
    "U32",
    "ClientFilter",
    "ComputerMismatch",
    "ContentFormat",
    "FilterKind",
    "FilterOperation",
    "OptionSpec",
    "OutputConfig",
    "Subscription",
    "option",
]

# OpenWEC stores the numeric options as u16/u32: larger values would not survive a migration.
U16 = 0xFFFF
U32 = 0xFFFF_FFFF


class ContentFormat(enum.StrEnum):
    RAW = "Raw"
    RENDERED_TEXT = "RenderedText"


class ComputerMismatch(enum.StrEnum):
    """What to do with an event whose ``System/Computer`` is not the authenticated host."""

    ACCEPT = "accept"  # OpenWEC's behaviour: not even looked at
    LOG = "log"  # counted and logged, written anyway
    DROP = "drop"  # counted, logged and not written (the batch is still acknowledged)


class FilterOperation(enum.StrEnum):
    ONLY = "Only"
    EXCEPT = "Except"


class FilterKind(enum.StrEnum):
    # The authenticated identity: Kerberos principal or TLS certificate subject CN.
    CLIENT = "Client"
    # The unauthenticated m:MachineID SOAP header (a source can write anything there).
    MACHINE_ID = "MachineID"


@dataclass(frozen=True)
class ClientFilter:
    """OpenWEC's client filter: which sources may use a subscription."""

    operation: FilterOperation
    kind: FilterKind = FilterKind.CLIENT
    targets: tuple[str, ...] = ()
    case_insensitive: bool = False
    glob: bool = False

    def _matches(self, value: str) -> bool:
        client = self.kind is FilterKind.CLIENT
        if client:
            # An authenticated identity is compared canonically whatever case_insensitive
            # says: `win10$@corp` and `WIN10$\@corp@CORP` are WIN10$@CORP to Active
            # Directory, and an Except must not be dodged by another spelling of it.
            value = canonical_principal(value)
        for target in self.targets:
            if client:
                a, b = value, canonical_principal(target)
            elif self.case_insensitive:
                a, b = value.lower(), target.lower()
            else:
                a, b = value, target
            if self.glob:
                # fnmatchcase: '*' and '?' only; '[...]' classes are accepted as fnmatch does.
                if fnmatch.fnmatchcase(a, b):
                    return True
            elif a == b:
                return True
        return False

    def allows(self, client: str, machine_id: str | None) -> bool:
        """True if the source may use the subscription.

        A missing MachineID fails ``Only`` and passes ``Except`` (docs/protocol.md §7.2).
        """
        value = client if self.kind is FilterKind.CLIENT else machine_id
        if value is None:
            return self.operation is FilterOperation.EXCEPT
        hit = self._matches(value)
        return hit if self.operation is FilterOperation.ONLY else not hit


@dataclass(frozen=True)
class OutputConfig:
    """One output of a subscription: a driver (where) × a format (which bytes)."""

    driver: str  # "Files" | "Tcp" | "Redis" | "Kafka" | "UnixDatagram" | "MongoDB" | "Relp"
    format: str  # "Raw" | "RawJson" | "Json" | "Nxlog"
    config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def key(self) -> str:
        """A stable text identity for comparing outputs across reloads."""
        import json

        return json.dumps(
            {"d": self.driver, "f": self.format, "c": self.config, "e": self.enabled},
            sort_keys=True,
            default=str,
        )


_SPEC = "wec.option"  # field metadata key: the option's description (an _OptionMeta)
_VISIBLE = "wec.client_visible"  # field metadata key: sources see this field


@dataclass(frozen=True)
class _OptionMeta:
    help: str
    client_visible: bool
    low: int | None
    high: int | None
    unit: str | None
    example: Any
    unset: str
    cli: bool
    metavar: str | None


def _option(
    default: Any,
    *,
    help: str,
    client_visible: bool = True,
    low: int | None = None,
    high: int | None = None,
    unit: str | None = None,
    example: Any = None,
    unset: str = "(unset)",
    cli: bool = True,
    metavar: str | None = None,
) -> Any:
    """A :class:`Subscription` field that is an option (the ``[options]`` of a file)."""
    meta = _OptionMeta(help, client_visible, low, high, unit, example, unset, cli, metavar)
    return field(default=default, metadata={_SPEC: meta, _VISIBLE: client_visible})


@dataclass(frozen=True)
class Subscription:
    """A subscription with all of OpenWEC's options (docs/protocol.md §7.1, §11.2).

    The fields made with ``_option`` are the options (see :data:`OPTIONS`); a source sees the
    name, the query and the options marked ``client_visible`` (:data:`CLIENT_VISIBLE_FIELDS`).
    """

    uuid: str  # canonical form: lowercase with dashes, as OpenWEC stores it
    name: str = field(metadata={_VISIBLE: True})
    query: str = field(metadata={_VISIBLE: True})  # a <QueryList> XML document
    uri: str | None = _option(
        None,
        help="Offer only to sources that enumerate on this URI (unset: every URI).",
        client_visible=False,
        example="/wsman/SubscriptionManager/WEC",
        unset="(every URI)",
        metavar="URI",
    )
    heartbeat_interval: int = _option(
        3600,
        help='Seconds between heartbeats of an idle source; also the window for "alive" machines.',
        low=1,
        high=U32,
        unit="s",
    )
    connection_retry_count: int = _option(
        5,
        help="How often a source retries an unreachable collector (0: it gives up at once).",
        low=0,
        high=U16,
    )
    connection_retry_interval: int = _option(
        60, help="Seconds between those retries.", low=1, high=U32, unit="s"
    )
    max_time: int = _option(
        30,
        help="Seconds a source may hold events before sending them (latency). Presets: 30 "
        "(min-latency), 900 (normal), 21600 (min-bandwidth, with heartbeat_interval = 21600).",
        low=1,
        high=U32,
        unit="s",
    )
    max_elements: int | None = _option(
        None,
        help="Events per batch (unset: as many as fit in max_envelope_size).",
        low=1,
        high=U32,
        example=100,
    )
    max_envelope_size: int = _option(
        512000, help="Largest message a source sends, in bytes.", low=1, high=U32, unit="bytes"
    )
    read_existing_events: bool = _option(
        False, help="On first subscribe, send the events already in the logs, not only new ones."
    )
    content_format: ContentFormat = _option(  # noqa: RUF009 - _option returns a field()
        ContentFormat.RAW,
        help="Raw, or RenderedText (adds the rendered message, about 2-3 times the bytes).",
    )
    ignore_channel_error: bool = _option(
        True, help="Tolerate channels of the query that a source cannot read."
    )
    locale: str | None = _option(None, help="Language of rendered messages.", example="en-US", metavar="LANG")
    data_locale: str | None = _option(None, help="Language of data.", example="en-US", metavar="LANG")
    computer_mismatch: ComputerMismatch = _option(  # noqa: RUF009 - _option returns a field()
        ComputerMismatch.ACCEPT,
        help="Events whose System/Computer is not the authenticated host: accept (OpenWEC), "
        "log (count and log, write anyway) or drop (count, log, do not write; the batch is acked).",
        client_visible=False,
        metavar="ACTION",
    )
    # Switched by `wec subscriptions enable/disable`, hence no flag of new/edit.
    enabled: bool = _option(
        True,
        help="Offered to sources only when true (and at least one output is enabled).",
        client_visible=False,
        cli=False,
    )
    revision: str | None = None
    filter: ClientFilter | None = None
    outputs: tuple[OutputConfig, ...] = ()

    @property
    def uuid_upper(self) -> str:
        return self.uuid.upper()

    def is_offerable(self) -> bool:
        """Enabled and with at least one enabled output (docs/protocol.md §3.4)."""
        return self.enabled and any(o.enabled for o in self.outputs)

    def allows(self, client: str, machine_id: str | None) -> bool:
        return self.filter is None or self.filter.allows(client, machine_id)

    @staticmethod
    def new_uuid() -> str:
        return str(uuidlib.uuid4())

    @staticmethod
    def canonical_uuid(value: str) -> str:
        """Normalise any UUID spelling; raises ValueError if it is not a UUID."""
        return str(uuidlib.UUID(value.strip()))


@dataclass(frozen=True)
class OptionSpec:
    """One option of a subscription, as its :class:`Subscription` field describes it."""

    name: str
    type: type  # int, bool, str or a StrEnum (ContentFormat)
    default: Any
    help: str
    client_visible: bool
    low: int | None  # bounds of an int option, both inclusive
    high: int | None
    unit: str | None  # shown after the value ("s", "bytes")
    example: Any  # what the file template shows for an option whose default is "unset"
    unset: str  # how `wec subscriptions show` says "no value"
    cli: bool  # has a flag in `wec subscriptions new/edit`
    metavar: str | None

    @property
    def nullable(self) -> bool:
        """True if the option may be unset (None), which is then also its default."""
        return self.default is None

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The values of an enum option."""
        if issubclass(self.type, enum.Enum):
            return tuple(str(c.value) for c in self.type)
        return None

    def to_plain(self, value: Any) -> Any:
        """The value as JSON, TOML and SQL hold it (an enum as its text)."""
        return value.value if isinstance(value, enum.Enum) else value

    def from_plain(self, value: Any) -> Any:
        """The inverse of :meth:`to_plain` (SQLite's 0/1 too); ``ValueError`` for a bad enum text."""
        if value is None:
            return None
        if issubclass(self.type, enum.Enum):
            return self.type(value)
        return bool(value) if self.type is bool else value


def _value_type(hint: Any) -> type:
    # `int | None` → int: that None is allowed is what `nullable` says.
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not types.NoneType)
    assert isinstance(hint, type)
    return hint


def _specs() -> tuple[OptionSpec, ...]:
    hints = typing.get_type_hints(Subscription)
    specs = []
    for f in dataclasses.fields(Subscription):
        meta = f.metadata.get(_SPEC)
        if isinstance(meta, _OptionMeta):
            described = {k.name: getattr(meta, k.name) for k in dataclasses.fields(meta)}
            specs.append(
                OptionSpec(name=f.name, type=_value_type(hints[f.name]), default=f.default, **described)
            )
    return tuple(specs)


# Every option, in field order (also the order of the database columns).
OPTIONS: tuple[OptionSpec, ...] = _specs()
_BY_NAME = {o.name: o for o in OPTIONS}

# Fields a Windows source sees in its Subscribe envelope; a change to any of them must change
# the subscription version so that sources re-subscribe (and nothing else should).
CLIENT_VISIBLE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Subscription) if f.metadata.get(_VISIBLE)
)


def option(name: str) -> OptionSpec:
    """The option called ``name``; ``KeyError`` if there is none."""
    return _BY_NAME[name]
