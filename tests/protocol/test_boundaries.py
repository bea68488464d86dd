# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/design.md §5.4: the protocol core is sans-IO. Its modules may import lxml, the
standard library's pure parts and the subscription model, and nothing that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import wec.protocol

FORBIDDEN = {
    "accel",
    "asyncio",
    "cheroot",
    "gssapi",
    "http",
    "os",
    "requests",
    "socket",
    "spnego",
    "ssl",
    "subprocess",
    "urllib.request",
    "werkzeug",
    "wec.auth",
    "wec.outputs",
    "wec.store",
    "wec.transport",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_protocol_modules_import_nothing_that_does_io() -> None:
    package_dir = Path(wec.protocol.__file__).parent
    files = sorted(package_dir.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for name in _imports(path):
            for forbidden in FORBIDDEN:
                assert name != forbidden and not name.startswith(forbidden + "."), (
                    f"{path.name} imports {name}"
                )


def test_public_names_are_exported() -> None:
    for name in wec.protocol.__all__:
        assert hasattr(wec.protocol, name), name
