# SPDX-License-Identifier: GPL-3.0-or-later
"""wec: a Linux collector for Windows Event Forwarding (WS-Management push subscriptions)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
