# SPDX-License-Identifier: GPL-3.0-or-later
"""``to_wec_toml``: render inventory data (dicts, lists, scalars) as a TOML document.

wec reads TOML with OpenWEC's key names (docs/settings.md, docs/subscriptions.md); Jinja has
no TOML writer and ansible-core ships none, so the role carries this small one. Tables become
``[headers]``, lists of tables ``[[headers]]``, other nested values are written inline.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: Any) -> str:
    k = str(k)
    return k if _BARE_KEY.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"{v!r} cannot be written to the settings")
        return repr(v)
    if isinstance(v, str):
        # A JSON string is a valid TOML basic string (same escapes, \uXXXX included).
        return json.dumps(str(v))
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None) + " }"
    if isinstance(v, Sequence):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ValueError(f"cannot write a {type(v).__name__} ({v!r}) as TOML")


def _is_table_list(v: Any) -> bool:
    return (
        isinstance(v, Sequence)
        and not isinstance(v, str)
        and len(v) > 0
        and all(isinstance(x, Mapping) for x in v)
    )


def _table(lines: list[str], name: str, data: Mapping[str, Any], header: str) -> None:
    if header:
        if lines:
            lines.append("")
        lines.append(header)
    tables = []
    for k, v in data.items():
        if v is None:
            continue  # an unset key: wec applies its default
        if isinstance(v, Mapping) or _is_table_list(v):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        sub = f"{name}.{_key(k)}" if name else _key(k)
        if isinstance(v, Mapping):
            _table(lines, sub, v, f"[{sub}]")
        else:
            for item in v:
                _table(lines, sub, item, f"[[{sub}]]")


def to_wec_toml(data: Mapping[str, Any]) -> str:
    """The TOML document for ``data``; ``None`` values are left out."""
    if not isinstance(data, Mapping):
        raise ValueError("to_wec_toml needs a mapping")
    lines: list[str] = []
    _table(lines, "", data, "")
    return "\n".join(lines) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"to_wec_toml": to_wec_toml}
