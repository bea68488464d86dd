# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the third-party test vectors live. They are never copied into the project:
tests read them from ``../shared/vectors`` (beside the checkout) or ``$WEC_VECTORS`` and skip,
with a clear reason, where they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["vector_path", "vectors_dir"]

_ROOT = Path(__file__).resolve().parents[2]


def vectors_dir() -> Path | None:
    env = os.environ.get("WEC_VECTORS")
    candidates = [Path(env)] if env else []
    candidates += [_ROOT.parent / "shared" / "vectors", _ROOT / ".." / ".." / "shared" / "vectors"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    return None


def vector_path(*parts: str) -> Path:
    """Path of one vector file, or skip the test when the vectors are not available."""
    base = vectors_dir()
    if base is None:
        pytest.skip("third-party vectors not found: set $WEC_VECTORS or place ../shared/vectors")
    p = base.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"vector {'/'.join(parts)} not present in {base}")
    return p
