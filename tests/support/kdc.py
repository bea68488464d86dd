# SPDX-License-Identifier: GPL-3.0-or-later
"""The throwaway KDC lives in the product (``wec.sim.kdc``: the demo uses it too)."""

from wec.sim.kdc import REALM, SERVICE_HOST, Kdc, kdc_available, start_kdc

__all__ = ["REALM", "SERVICE_HOST", "Kdc", "kdc_available", "start_kdc"]
