# SPDX-License-Identifier: GPL-3.0-or-later
"""Free loopback ports and waiting for a listener (shared with ``wec.sim.kdc``)."""

from wec.sim.kdc import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]
