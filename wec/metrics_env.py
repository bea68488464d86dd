# SPDX-License-Identifier: GPL-3.0-or-later
"""Set up prometheus_client's multiprocess mode (several wecd workers). Kept apart from
``wec.metrics`` because it must run before prometheus_client is imported at all: the library
picks its value storage once, at import time."""

from __future__ import annotations

import os
import sys

__all__ = ["MULTIPROC_ENV", "prepare_multiprocess"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: str) -> None:
    """Worker processes write their samples to files in ``directory``; the parent serves the
    sum. Samples of a previous run are removed so they are not summed in."""
    if "prometheus_client" in sys.modules and os.environ.get(MULTIPROC_ENV) != directory:
        raise RuntimeError("prometheus_client was imported before multiprocess mode was set up")
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    os.environ[MULTIPROC_ENV] = directory
