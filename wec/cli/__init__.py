# SPDX-License-Identifier: GPL-3.0-or-later
"""Command-line entry points: ``wecd`` (the daemon) and ``wec`` (administration)."""
