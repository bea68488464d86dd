# SPDX-License-Identifier: GPL-3.0-or-later
"""UUID spellings and message ids (MS-WSMV §3.1.4.1.5: ``uuid:`` + an UPPERCASE UUID)."""

from __future__ import annotations

import re
import uuid
from typing import Final

__all__ = ["is_hyphenated_uuid", "is_uuid", "new_message_id"]

# ASCII hex only. Stricter than uuid.UUID(), which accepts "+", "_" and blanks via int(x, 16).
_HYPHENATED: Final = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_HYPHENATED_RE: Final = re.compile(_HYPHENATED, re.ASCII)
_ANY_UUID_RE: Final = re.compile(rf"{_HYPHENATED}|\{{{_HYPHENATED}\}}|[0-9A-Fa-f]{{32}}", re.ASCII)


def is_uuid(value: str) -> bool:
    """True for a hyphenated, braced-hyphenated or 32-hex-digit UUID, in any case."""
    return _ANY_UUID_RE.fullmatch(value) is not None


def is_hyphenated_uuid(value: str) -> bool:
    return _HYPHENATED_RE.fullmatch(value) is not None


def new_message_id() -> str:
    """A fresh ``a:MessageID``: ``uuid:`` + an uppercase random UUID, as Windows writes them."""
    return "uuid:" + str(uuid.uuid4()).upper()
