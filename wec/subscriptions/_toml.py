# SPDX-License-Identifier: GPL-3.0-or-later
"""Just enough TOML 1.0 writing for subscription files (the stdlib only reads TOML).

Values are what subscription files hold: strings, booleans, integers, floats, arrays and
tables. Strings are written so that ``tomllib`` reads back exactly the same text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["key", "multiline", "value"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def basic_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")  # TOML forbids raw control characters in strings
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def multiline(text: str) -> str:
    """A readable form for long text (queries): a literal multi-line string when possible."""
    literal_ok = (
        "'''" not in text
        and not text.endswith("'")
        and all(ch in "\n\t" or (ord(ch) >= 0x20 and ord(ch) != 0x7F) for ch in text)
    )
    if literal_ok:
        # The newline right after the opening delimiter is dropped by TOML readers.
        return "'''\n" + text + "'''"
    return basic_string(text)


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else basic_string(name)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return basic_string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{key(str(k))} = {value(x)}" for k, x in v.items()) + " }" if v else "{}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def table(header: str, items: Mapping[str, Any]) -> list[str]:
    """``[header]`` with scalars and arrays first, then nested tables as ``[header.key]``."""
    lines = [f"[{header}]"]
    nested: list[tuple[str, Mapping[str, Any]]] = []
    for k, v in items.items():
        if isinstance(v, Mapping):
            nested.append((k, v))
        else:
            lines.append(f"{key(k)} = {value(v)}")
    for k, v in nested:
        lines.append("")
        lines.extend(table(f"{header}.{key(k)}", v))
    return lines
