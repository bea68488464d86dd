# SPDX-License-Identifier: GPL-3.0-or-later
"""wec.metrics: the ``uri`` label stays bounded whatever paths the clients use."""

from __future__ import annotations

from wec.metrics import Metrics


def _uris(m: Metrics) -> set[str]:
    return {
        s.labels["uri"]
        for family in m.registry.collect()
        if family.name == "openwec_http_requests"
        for s in family.samples
    }


def test_random_request_paths_do_not_create_unbounded_series() -> None:
    # Any domain account can get a ticket for the collector's SPN, and an authenticated
    # auth-only POST or End answers 200 on any path: one series per path would let it
    # grow the metrics without bound.
    m = Metrics()
    m.http("/wsman/SubscriptionManager/WEC", 200, 0.01, 0, 0, None)
    for i in range(5000):
        m.http(f"/random/{i}", 200, 0.01, 10, 10, None)
    uris = _uris(m)
    assert "/wsman/SubscriptionManager/WEC" in uris
    assert len(uris) <= Metrics.MAX_URIS + 1
    # a path already known keeps its own series
    m.http("/wsman/SubscriptionManager/WEC", 200, 0.01, 0, 0, None)
    assert "/wsman/SubscriptionManager/WEC" in _uris(m)


def test_event_bytes_are_the_utf8_size_of_ascii_and_non_ascii_events() -> None:
    m = Metrics()
    events = ["<Event>abc</Event>", "<Event>é€😀</Event>", ""]
    m.events("UUID", "sub", "PC1$@EXAMPLE.TEST", events)
    samples = {
        s.name: s.value
        for family in m.registry.collect()
        if family.name in ("openwec_input_events", "openwec_input_event_bytes")
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples["openwec_input_events_total"] == 3
    assert samples["openwec_input_event_bytes_total"] == sum(len(e.encode("utf-8")) for e in events)
    assert samples["openwec_input_event_bytes_total"] == 18 + 15 + 9
