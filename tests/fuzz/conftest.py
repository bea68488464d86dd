# SPDX-License-Identifier: GPL-3.0-or-later
"""The fuzz suite's hypothesis profiles: a small budget by default (CI: the whole suite stays
well under a minute on a shared core), a long one with ``WEC_FUZZ_EXAMPLES=N`` (examples per
test) — see docs/testing.md. Tests use ``@settings(parent=settings.get_profile("wec-fuzz"))``
so that nothing here changes other directories' settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "wec-fuzz",
    max_examples=int(os.environ.get("WEC_FUZZ_EXAMPLES", "120")),
    deadline=None,  # a hang is caught by the targets' watchdog, not by timing examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=True,  # a failure prints the line that reproduces it (@reproduce_failure)
)
