# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft's delivery optimisation presets, as (max_time, heartbeat_interval) in seconds.

``wecutil`` and the Event Viewer offer three presets; their values are in milliseconds there
and in seconds here, as in OpenWEC's options (docs/protocol.md §7.3). Only these two options differ
between presets for a source-initiated (push) subscription.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from wec.model import Subscription

__all__ = ["DeliveryPreset", "PresetValues", "apply_preset", "preset_values"]


class DeliveryPreset(enum.StrEnum):
    NORMAL = "normal"
    MIN_LATENCY = "min-latency"
    MIN_BANDWIDTH = "min-bandwidth"


@dataclass(frozen=True)
class PresetValues:
    max_time: int  # seconds a source may hold events before sending a batch
    heartbeat_interval: int  # seconds between heartbeats of an idle source


_VALUES: dict[DeliveryPreset, PresetValues] = {
    # Microsoft documents "Normal" as pull with 15 min batches; exported source-initiated
    # subscriptions show push with 900 s for both values.
    DeliveryPreset.NORMAL: PresetValues(max_time=900, heartbeat_interval=900),
    # What the Windows WEC captures show (PT30.000S / PT3600.000S); also OpenWEC's defaults.
    DeliveryPreset.MIN_LATENCY: PresetValues(max_time=30, heartbeat_interval=3600),
    DeliveryPreset.MIN_BANDWIDTH: PresetValues(max_time=21600, heartbeat_interval=21600),
}

# Microsoft's spellings (wecutil's DeliveryMode / the Event Viewer labels) map onto ours.
_ALIASES: dict[str, DeliveryPreset] = {
    "normal": DeliveryPreset.NORMAL,
    "min-latency": DeliveryPreset.MIN_LATENCY,
    "minlatency": DeliveryPreset.MIN_LATENCY,
    "minimize latency": DeliveryPreset.MIN_LATENCY,
    "min-bandwidth": DeliveryPreset.MIN_BANDWIDTH,
    "minbandwidth": DeliveryPreset.MIN_BANDWIDTH,
    "minimize bandwidth": DeliveryPreset.MIN_BANDWIDTH,
}


def preset_values(name: str | DeliveryPreset) -> PresetValues:
    """Values of a preset by name (``normal``, ``min-latency``, ``min-bandwidth`` or Microsoft's
    ``MinLatency``/``Minimize Latency`` spellings); raises ValueError for anything else."""
    key = _ALIASES.get(str(name).strip().lower())
    if key is None:
        raise ValueError(
            f"unknown delivery preset {name!r}: expected one of {', '.join(p for p in DeliveryPreset)}"
        )
    return _VALUES[key]


def apply_preset(sub: Subscription, name: str | DeliveryPreset) -> Subscription:
    """A copy of ``sub`` with the preset's max_time and heartbeat_interval."""
    v = preset_values(name)
    return dataclasses.replace(sub, max_time=v.max_time, heartbeat_interval=v.heartbeat_interval)
