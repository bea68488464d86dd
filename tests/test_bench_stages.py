# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/stages (``bench/load.py --stages``): every step it times still exists in wec, and a
process started with it writes the counts of the calls it made."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "bench" / "stages" / "sitecustomize.py"


def _hook_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_stages_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # without WEC_BENCH_STAGES it installs nothing
    return module


def test_every_step_names_a_function_of_wec_or_cheroot() -> None:
    # A renamed method would otherwise make the hook fail at wecd's start-up, and the bench
    # report silently lose its steps.
    for module_name, attribute, label in _hook_module().STAGES:
        try:
            owner = importlib.import_module(module_name)
        except ImportError:
            assert module_name == "wec.store.postgres", module_name  # psycopg2 is optional
            continue
        for part in attribute.split("."):
            owner = getattr(owner, part)
        assert callable(owner), (module_name, attribute, label)


def test_a_process_started_with_the_hook_reports_its_calls(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(HOOK.parent), "WEC_BENCH_STAGES": str(tmp_path)}
    code = (
        "import time\n"
        "from wec.metrics import Metrics\n"
        "m = Metrics()\n"
        "for _ in range(3): m.http('/x', 200, 0.01, 10, 20, None)\n"
        "time.sleep(1.6)\n"
    )
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    dumps = list(tmp_path.glob("stages-*.json"))
    assert len(dumps) == 1, f"no dump after {time.monotonic() - started:.1f}s"
    data = json.loads(dumps[0].read_text())
    assert data["stages"]["    HTTP metrics"][1] == 3
    assert data["stages"]["    decryption"][1] == 0
    assert "MainThread" in data["threads"]
