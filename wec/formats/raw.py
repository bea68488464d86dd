# SPDX-License-Identifier: GPL-3.0-or-later
"""Raw: the event XML exactly as received, no metadata (docs/protocol.md §10.2).

The XML may contain newlines (inside ``Message``), so newline framing is ambiguous for Raw;
framing is the driver's business."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wec.formats._common import scrub

if TYPE_CHECKING:
    from wec.formats.base import EventMeta
    from wec.formats.event_xml import ParsedEvent

__all__ = ["RawFormat"]


class RawFormat:
    name = "Raw"
    needs_parse = False

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        try:
            return raw.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: repaired rather than dropped
            return scrub(raw).encode("utf-8")
