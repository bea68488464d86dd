# SPDX-License-Identifier: GPL-3.0-or-later
"""The import graph between wec's top-level packages/modules: no cycle, no upward import.

Every ``import``/``from … import`` of wec/ and accel/ is read with ast — also those inside
functions, which dodge a cycle at run time but not in the design. A node is a direct child of
wec/ (``wec.store``, ``wec.model``…) or accel. The layers below are the declared order
(docs/design.md, "Layers"): a node may import only nodes of a lower layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom first. A new top-level module must be placed here, which is the point.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"principals"}),
    frozenset({"model", "xmlparser", "sanitize", "permissions", "accel", "metrics_env", "sim", "cpu_gate"}),
    frozenset({"formats", "auth", "protocol", "store", "attribution"}),
    frozenset({"outputs"}),
    frozenset({"subscriptions"}),
    frozenset({"config"}),
    frozenset({"logsetup", "metrics"}),
    frozenset({"registry"}),
    frozenset({"service"}),
    frozenset({"transport"}),
    frozenset({"supervisor"}),
    frozenset({"daemon", "demo"}),
    frozenset({"cli"}),
)
RANK = {node: i for i, layer in enumerate(LAYERS) for node in layer}
# What answers sources; it must not depend on the simulator, nor on the layers that use it.
SERVER_SIDE = frozenset(RANK) - {"sim", "cli", "demo"}
LOW_LEVEL = ("protocol", "auth", "accel")
HIGH_LEVEL = frozenset({"store", "outputs", "service", "transport", "cli", "daemon", "config"})


def _nodes() -> set[str]:
    wec = ROOT / "wec"
    names = {p.stem for p in wec.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in wec.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return names | {"accel"}


def _node_of(module: str, nodes: set[str]) -> str | None:
    parts = module.split(".")
    if parts[0] == "accel":
        return "accel"
    if parts[0] == "wec" and len(parts) > 1 and parts[1] in nodes:
        return parts[1]
    return None  # a third-party module, or a name of wec/__init__.py such as __version__


def _imported(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of one file, relative ones resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(n, ast.Import):
            for alias in n.names:
                yield alias.name, n.lineno
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                base = package[: len(package) - (n.level - 1)]
                target = ".".join(base + ([n.module] if n.module else []))
            else:
                target = n.module or ""
            yield target, n.lineno
            for alias in n.names:  # `from wec import store` imports the package wec.store
                yield f"{target}.{alias.name}", n.lineno


@cache
def edges() -> dict[tuple[str, str], str]:
    """(importer node, imported node) → where the first such import is, for messages."""
    nodes = _nodes()
    found: dict[tuple[str, str], str] = {}
    for top in ("wec", "accel"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            module = ".".join(parts)
            src = _node_of(module, nodes)
            if src is None:
                continue
            for target, line in _imported(path, module):
                dst = _node_of(target, nodes)
                if dst is not None and dst != src:
                    found.setdefault((src, dst), f"{path.relative_to(ROOT)}:{line}")
    return found


def _cycle() -> list[str] | None:
    graph: dict[str, set[str]] = {}
    for src, dst in edges():
        graph.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return [*path[path.index(w) :], w]
            if w not in state and (found := visit(w)) is not None:
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)) is not None:
            return found
    return None


def _offending(pred: object) -> list[str]:
    assert callable(pred)
    return [f"{s} -> {d} ({where})" for (s, d), where in sorted(edges().items()) if pred(s, d)]


def test_the_graph_is_read() -> None:
    # Guards the checker itself: these imports exist, so an empty graph means a broken parser.
    assert ("store", "model") in edges()
    assert ("cli", "subscriptions") in edges()
    assert ("transport", "accel") in edges()


def test_no_cycle_between_wec_packages() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_top_level_module_has_a_layer() -> None:
    assert _nodes() - set(RANK) == set(), "place the new module in LAYERS"
    assert set(RANK) - _nodes() == set(), "LAYERS names a module that no longer exists"


def test_no_package_imports_one_above_it() -> None:
    bad = _offending(lambda s, d: RANK[d] >= RANK[s])
    assert bad == [], "upward or sideways imports:\n" + "\n".join(bad)


def test_the_bottom_layer_imports_nothing_of_wec() -> None:
    assert _offending(lambda s, d: s in LAYERS[0]) == []


@pytest.mark.parametrize("low", LOW_LEVEL)
def test_low_level_packages_never_import_the_layers_that_use_them(low: str) -> None:
    assert _offending(lambda s, d: s == low and d in HIGH_LEVEL) == []


def test_the_server_side_never_imports_the_simulator() -> None:
    assert _offending(lambda s, d: d == "sim" and s in SERVER_SIDE) == []
    # …and the simulator shares no code with the server (docs/simulator.md).
    assert _offending(lambda s, d: s == "sim") == []


def test_an_upward_import_inside_a_function_is_seen(tmp_path: Path) -> None:
    src = "def f():\n    from wec.store.base import Store\n    from ..outputs import registry\n"
    path = tmp_path / "model.py"
    path.write_text(src)
    got = [t for t, _ in _imported(path, "wec.subscriptions.model")]
    assert "wec.store.base" in got and "wec.outputs.registry" in got
