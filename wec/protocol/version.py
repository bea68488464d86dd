# SPDX-License-Identifier: GPL-3.0-or-later
"""The subscription version a source sees in ``m:Version`` (docs/protocol.md §3.7).

A Windows source re-subscribes when the version changes, so it must change exactly when a
field the source can see changes (``CLIENT_VISIBLE_FIELDS``), and never for ``uri``,
``enabled``, the filter, the outputs or the revision. OpenWEC's digest cannot be reproduced
(it hashes Rust's internal hash stream), and need not be: any deterministic digest over a
canonical encoding works. Ours: SHA-256 over a domain tag plus the canonical JSON of
those fields, the first 16 bytes shaped as an RFC 9562 version-8 (custom) UUID.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Final

from wec.model import CLIENT_VISIBLE_FIELDS, Subscription

__all__ = ["subscription_version"]

# Bump the suffix to force every source to re-subscribe once after a format change here.
_DOMAIN: Final = b"wec subscription version v1\n"


def subscription_version(sub: Subscription) -> str:
    """Deterministic UPPERCASE UUID (no ``uuid:`` prefix) of the client-visible fields."""
    visible = {name: getattr(sub, name) for name in CLIENT_VISIBLE_FIELDS}
    # sort_keys + fixed separators make the encoding canonical; ContentFormat is a StrEnum,
    # so it encodes as its wire value ("Raw"/"RenderedText").
    canonical = json.dumps(visible, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(_DOMAIN + canonical.encode("ascii")).digest()
    raw = bytearray(digest[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: vendor-specific (RFC 9562 §5.8)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
    return str(uuid.UUID(bytes=bytes(raw))).upper()
