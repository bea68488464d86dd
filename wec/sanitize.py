# SPDX-License-Identifier: GPL-3.0-or-later
"""Make text safe to print: control characters escaped, credentials redacted.

Two families of strings reach logs, metric labels and CLI listings:

- **client-controlled** ones (request paths, machine IDs, principals, SubscriptionEnd fields,
  event fields): a newline in them would let an unauthenticated peer write a forged log line,
  so :func:`escape_controls` renders every control character visibly (``\\n``, ``\\x1b``);
- **operator secrets** inside output settings (``mongodb://wec:S3cret@host``, Redis URLs,
  Kafka ``sasl.password``): :func:`redact` and :func:`redact_mapping` replace them with ``***``
  wherever an output is named in a log line, an error message or a listing.

This module imports nothing of wec: every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "escape_controls", "is_secret_key", "redact", "redact_mapping"]

REDACTED = "***"

# C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators that some log
# viewers treat as line breaks.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# scheme://user:password@host → the password part; also user:password@host without a scheme
# (OpenWEC's Redis ``addr`` form). The user name stays: it helps diagnose, it is not a secret.
_URL_PASSWORD = re.compile(r"(?P<head>(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^\s:/@]*:)(?P<pw>[^\s@/]+)(?=@)")
# key=value forms in connection strings and option lists (password=..., sasl.password=...).
_KV_SECRET = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|sasl\.password|ssl\.key\.password)\s*[=:]\s*)"
    r"(?P<val>[^\s;&,]+)",
    re.IGNORECASE,
)
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|credential|private_key)", re.IGNORECASE)


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as a visible escape (one line, always)."""
    if _CONTROLS.search(text) is None:  # the common case costs one scan and no copy
        return text
    return _CONTROLS.sub(_escape_one, text)


def redact(text: str) -> str:
    """``text`` with the passwords of URLs and ``password=`` style pairs replaced by ``***``."""
    if "@" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    if "=" in text or ":" in text:
        text = _KV_SECRET.sub(lambda m: m.group("key") + REDACTED, text)
    return text


def is_secret_key(key: str) -> bool:
    """Whether a settings key names a secret (``password``, ``sasl.password``, ``token``…)."""
    return _SECRET_KEY.search(key) is not None


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an output's settings fit for display: secret keys masked, URLs redacted."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_key(str(key)) and value not in (None, ""):
            out[key] = REDACTED
        elif isinstance(value, str):
            out[key] = redact(value)
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        else:
            out[key] = value
    return out
