# SPDX-License-Identifier: GPL-3.0-or-later
"""Output formats: turn received events into the bytes an output driver writes.

``get_format(name)`` returns one of the four OpenWEC formats (``Raw``, ``RawJson``, ``Json``,
``Nxlog``). ``format_batch`` formats one Events batch for every format its outputs use,
parsing each event at most once, and only when a parsing format is among them
(docs/protocol.md §10.2, §10.3)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wec.formats._common import meta_block_bytes
from wec.formats.base import EventMeta, Format
from wec.formats.event_xml import ErrorType, EventError, ParsedEvent, parse_event
from wec.formats.json import JsonFormat
from wec.formats.json_fast import json_record
from wec.formats.nxlog import NxlogFormat
from wec.formats.raw import RawFormat
from wec.formats.raw_json import RawJsonFormat

__all__ = [
    "FORMAT_NAMES",
    "BatchResult",
    "EventMeta",
    "Format",
    "JsonFormat",
    "NxlogFormat",
    "RawFormat",
    "RawJsonFormat",
    "format_batch",
    "get_format",
]

log = logging.getLogger(__name__)

_FORMATS: dict[str, Format] = {f.name: f for f in (RawFormat(), RawJsonFormat(), JsonFormat(), NxlogFormat())}
FORMAT_NAMES: tuple[str, ...] = tuple(_FORMATS)
_BY_FOLDED = {n.casefold(): f for n, f in _FORMATS.items()}


def get_format(name: str) -> Format:
    """The format called ``name`` as OpenWEC spells it (``Json``); the case is not significant
    (OpenWEC's CLI writes ``json``). Unknown names raise ValueError listing the known ones."""
    f = _FORMATS.get(name) or _BY_FOLDED.get(name.casefold())
    if f is None:
        raise ValueError(f"unknown format {name!r}; known formats: {', '.join(FORMAT_NAMES)}")
    return f


@dataclass
class BatchResult:
    """What ``format_batch`` produced for one batch.

    ``records[name]`` has one record per event, in batch order, minus the events that format
    dropped; ``failures[name]`` counts those drops (log and meter them: the batch itself still
    succeeds, docs/protocol.md §10.3). ``parse_errors`` counts the events that carry an
    ``OpenWEC.Error``, by type (``openwec_input_event_parsing_failures_total{type}``); such
    events are still written. ``parsed`` holds the parsed events, aligned with the batch, for
    callers that want System fields, e.g. a de-duplication key; it is empty when no format
    needs parsing, and when the built-in Json is the only one that does (its fast path,
    ``wec.formats.json_fast``, builds no typed records)."""

    records: dict[str, list[bytes]]
    failures: dict[str, int]
    parse_errors: dict[ErrorType, int] = field(default_factory=dict)
    parsed: list[ParsedEvent] = field(default_factory=list)
    # For a format that dropped events: the batch index of each of its records.
    kept: dict[str, list[int]] = field(default_factory=dict)

    def raw_for(self, name: str, raw_events: Sequence[str]) -> tuple[str, ...]:
        """The received XML of each record of format ``name``, aligned with ``records[name]``."""
        if name in self.kept:
            return tuple(raw_events[i] for i in self.kept[name])
        return tuple(raw_events)

    @property
    def dropped(self) -> int:
        return sum(self.failures.values())


def _safe_parse(raw: str) -> ParsedEvent:
    try:
        return parse_event(raw)
    except Exception:  # a bug of ours must not lose the event: it is kept raw, typed Unknown
        log.exception("event parser failed unexpectedly; the event is kept as Unknown")
        return ParsedEvent(error=EventError(ErrorType.UNKNOWN, None, raw))


def _fast_json(raw: str, meta: EventMeta, meta_block: bytes) -> bytes | None:
    try:
        return json_record(raw, meta, meta_block)
    except Exception:  # a bug of the fast path must not lose the event: the general path runs
        log.exception("the Json fast path failed unexpectedly; the event takes the general path")
        return None


def _format_one(
    name: str,
    f: Format,
    raw: str,
    parsed: ParsedEvent | None,
    meta: EventMeta,
    index: int,
    records: dict[str, list[bytes]],
    failures: dict[str, int],
    kept: dict[str, list[int]],
    logged: set[str],
) -> None:
    try:
        record = f.format(raw, parsed, meta)
    except Exception:
        if name not in logged:  # one traceback per format and batch is enough
            logged.add(name)
            log.exception("format %s failed on an event; it is dropped from that format", name)
        record = None
    if record is None:
        if name not in kept:  # from now on, remember which events this format kept
            kept[name] = list(range(index))
        failures[name] += 1
    else:
        records[name].append(record)
        if name in kept:
            kept[name].append(index)


def format_batch(raw_events: Sequence[str], meta: EventMeta, formats: Iterable[Format]) -> BatchResult:
    """Format every event of a batch for every given format (duplicates are formatted once)."""
    unique: dict[str, Format] = {}
    for f in formats:
        unique.setdefault(f.name, f)
    if len(unique) == 1 and unique.get("Raw") is _FORMATS["Raw"]:
        # Raw alone (a common subscription): each record is the event's UTF-8, with no call
        # per event; a lone surrogate (repaired by RawFormat) takes the loop below.
        try:
            return BatchResult({"Raw": [raw.encode("utf-8") for raw in raw_events]}, {"Raw": 0})
        except UnicodeEncodeError:
            pass
    records: dict[str, list[bytes]] = {name: [] for name in unique}
    failures: dict[str, int] = dict.fromkeys(unique, 0)
    parse_errors: dict[ErrorType, int] = {}
    parsed_events: list[ParsedEvent] = []
    need_parse = any(f.needs_parse for f in unique.values())
    items = list(unique.items())
    # When the built-in Json is the only format that parses, its common case skips the typed
    # records (json_fast); any event it declines goes the general way below.
    fast_json = need_parse and [f for f in unique.values() if f.needs_parse] == [_FORMATS["Json"]]
    logged: set[str] = set()

    kept: dict[str, list[int]] = {}
    meta_block = meta_block_bytes(meta) if fast_json else b""
    for index, raw in enumerate(raw_events):
        parsed: ParsedEvent | None = None
        fast: bytes | None = _fast_json(raw, meta, meta_block) if fast_json else None
        if fast is not None:
            for name, f in items:
                if f.needs_parse:
                    records[name].append(fast)
                    if name in kept:
                        kept[name].append(index)
                else:
                    _format_one(name, f, raw, None, meta, index, records, failures, kept, logged)
            continue
        if need_parse:
            parsed = _safe_parse(raw)
            if not fast_json:
                parsed_events.append(parsed)
            if parsed.error is not None:
                t = parsed.error.type
                parse_errors[t] = parse_errors.get(t, 0) + 1
        for name, f in items:
            _format_one(name, f, raw, parsed, meta, index, records, failures, kept, logged)

    for etype, n in parse_errors.items():
        # One line per batch and type: a source resending a bad event must not flood the log.
        level = logging.INFO if etype is ErrorType.RAW_CONTENT_RECOVERED else logging.WARNING
        log.log(
            level, "%d of %d events of this batch could not be read as-is (%s)", n, len(raw_events), etype
        )
    for name, n in failures.items():
        if n:
            log.warning("format %s dropped %d of %d events of this batch", name, n, len(raw_events))
    return BatchResult(records, failures, parse_errors, parsed_events, kept)
