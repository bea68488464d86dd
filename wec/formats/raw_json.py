# SPDX-License-Identifier: GPL-3.0-or-later
"""RawJson: ``{"meta": {…}, "data": "<event XML>"}`` (docs/protocol.md §10.2).

No parsing and therefore no ``Error`` key. The ``meta`` block is serialised once per batch
metadata and spliced in front of each event's JSON string."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wec.formats._common import dumps, meta_block_bytes

if TYPE_CHECKING:
    from wec.formats.base import EventMeta
    from wec.formats.event_xml import ParsedEvent

__all__ = ["RawJsonFormat"]


class RawJsonFormat:
    name = "RawJson"
    needs_parse = False

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        return b'{"meta":' + meta_block_bytes(meta) + b',"data":' + dumps(raw) + b"}"
