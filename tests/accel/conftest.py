# SPDX-License-Identifier: GPL-3.0-or-later
"""Hypothesis settings for the accel tests: modest by default (the machine is shared), more with
``WEC_HYPOTHESIS_PROFILE=thorough``. Tests use ``@settings(parent=settings.get_profile(...))``
so that nothing here changes other test directories' settings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "accel-default",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "accel-thorough",
    parent=settings.get_profile("accel-default"),
    max_examples=5000,
)

PROFILE = "accel-thorough" if os.environ.get("WEC_HYPOTHESIS_PROFILE") == "thorough" else "accel-default"
settings.register_profile("accel", parent=settings.get_profile(PROFILE))
