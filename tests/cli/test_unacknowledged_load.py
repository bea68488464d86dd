# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec subscriptions load`` refuses outputs whose settings hide failed writes (MongoDB ``w=0``,
Kafka ``acks=0``): the file is not loaded and the message says how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import QUERY, Cli

pytest.importorskip("pymongo")
pytest.importorskip("confluent_kafka")


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ('driver = "MongoDB"\nformat = "Json"\nconfig = { uri = "mongodb://db/?w=0" }', "w=0 in the uri"),
        (
            'driver = "Kafka"\nformat = "Json"\nconfig = { topic = "t", options = { acks = "0" } }',
            "option acks = 0",
        ),
    ],
)
def test_subscriptions_load_refuses_the_file(cli: Cli, tmp_path: Path, output: str, message: str) -> None:
    d = tmp_path / "subs"
    d.mkdir()
    (d / "s.toml").write_text(
        f"uuid = \"9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95\"\nname = \"s\"\nquery = '''{QUERY}'''\n"
        f"[[outputs]]\n{output}\n"
    )
    r = cli("subscriptions", "load", str(d))
    assert r.code != 0
    assert message in r.err + r.out
    assert "allow_unacknowledged" in r.err + r.out
    assert cli.ok("subscriptions", "--format", "json").json() == []  # nothing was stored
