# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the simulator tests (the real KDC comes from tests/conftest.py)."""
