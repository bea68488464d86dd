# SPDX-License-Identifier: GPL-3.0-or-later
"""The cost of ``computer_mismatch``: the System/Computer scan of a batch, against a parse.

``check_computers`` runs on every event of a subscription whose ``computer_mismatch`` is
``log`` or ``drop`` (``accept``, the default, does nothing). Baseline in the same run:
``lxml.etree.fromstring`` of every event, the floor under any check that parses.

Run: ``.venv/bin/pytest bench/test_bench_attribution.py -p no:cacheprovider``; events/s are in
each benchmark's ``extra_info``.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from bench.test_bench_formats import N, _generated, _rate, _run
from wec.attribution import check_computers

EVENTS = [_generated(i) for i in range(N)]


def test_check_computers(benchmark: Any) -> None:
    result = _run(benchmark, check_computers, EVENTS, "WS042", True)
    assert len(result.mismatched) < len(EVENTS)  # the generated events name their host
    _rate(benchmark, len(EVENTS))


def test_baseline_lxml_fromstring(benchmark: Any) -> None:
    data = [e.encode("utf-8") for e in EVENTS]
    _run(benchmark, lambda evs: [etree.fromstring(d) for d in evs], data)
    _rate(benchmark, len(EVENTS))
