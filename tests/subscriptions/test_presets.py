# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft's delivery presets in seconds (docs/protocol.md §7.3)."""

from __future__ import annotations

import pytest

from wec.model import Subscription
from wec.subscriptions.presets import DeliveryPreset, PresetValues, apply_preset, preset_values


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("normal", PresetValues(900, 900)),
        ("Normal", PresetValues(900, 900)),
        ("min-latency", PresetValues(30, 3600)),
        ("MinLatency", PresetValues(30, 3600)),
        ("Minimize Latency", PresetValues(30, 3600)),
        ("min-bandwidth", PresetValues(21600, 21600)),
        ("MinBandwidth", PresetValues(21600, 21600)),
        (DeliveryPreset.MIN_BANDWIDTH, PresetValues(21600, 21600)),
    ],
)
def test_preset_values(name: str, values: PresetValues) -> None:
    assert preset_values(name) == values


def test_min_latency_is_openwecs_default() -> None:
    sub = Subscription(uuid=Subscription.new_uuid(), name="n", query="<QueryList/>")
    assert apply_preset(sub, "min-latency") == sub


def test_apply_preset_changes_only_the_two_values() -> None:
    sub = Subscription(uuid=Subscription.new_uuid(), name="n", query="<QueryList/>", max_elements=5)
    out = apply_preset(sub, "min-bandwidth")
    assert (out.max_time, out.heartbeat_interval, out.max_elements, out.uuid) == (21600, 21600, 5, sub.uuid)


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown delivery preset 'fast'"):
        preset_values("fast")
