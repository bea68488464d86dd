# SPDX-License-Identifier: GPL-3.0-or-later
"""accel as a package: warm-up, the numba cache directory, independence from wec."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import accel
from accel import _jit

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, env: dict[str, str]) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    full_env.update(env, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_warm_up_compiles_every_kernel() -> None:
    seconds = accel.warm_up()
    assert seconds >= 0
    assert _jit.kernels()
    assert all(k.signatures for k in _jit.kernels()), [k.py_func.__name__ for k in _jit.kernels()]


def test_numba_cache_dir_is_honoured_and_filled(tmp_path: Path) -> None:
    out = run_python(
        "import accel; accel.warm_up(); print(accel.cache_dir())",
        {"NUMBA_CACHE_DIR": str(tmp_path)},
    )
    assert out.strip() == str(tmp_path)
    assert list(tmp_path.rglob("*.nbi")), "no numba index written"


def test_configure_cache_moves_the_cache_before_warm_up(tmp_path: Path) -> None:
    target = tmp_path / "wec-cache"
    out = run_python(
        f"import accel; print(accel.configure_cache({str(target)!r})); accel.warm_up()",
        {},
    )
    assert out.strip() == str(target)
    assert (target.stat().st_mode & 0o777) == 0o700
    assert list(target.rglob("*.nbi"))


def test_read_only_package_falls_back_to_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may write anywhere, so the read-only install is simulated at its one test point.
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(_jit, "_in_tree_writable", lambda: False)
    assert _jit.choose_cache_dir() == str(tmp_path / "xdg" / "wec" / "numba")


def test_cache_directories_others_can_write_are_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert not _jit._usable_dir(shared)
    if os.getuid() == 0:
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 4242, -1)
        assert not _jit._usable_dir(foreign)
    with pytest.raises(ValueError, match="not a private writable directory"):
        accel.configure_cache(str(shared))


def test_accel_never_imports_wec_and_the_encoder_never_imports_accel() -> None:
    out = run_python(
        "import sys, accel, accel.sldc, accel.utf16; accel.warm_up();"
        "print(sorted(m for m in sys.modules if m == 'wec' or m.startswith('wec.')))",
        {},
    )
    assert out.strip() == "[]"
    out = run_python(
        "import sys, wec.sim.sldc; print(sorted(m for m in sys.modules if m.startswith('accel')))",
        {},
    )
    assert out.strip() == "[]"
