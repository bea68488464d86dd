# SPDX-License-Identifier: GPL-3.0-or-later
"""Every option of :data:`wec.model.OPTIONS` travels through every reader and writer.

The store codec, the subscription files, the JSON and OpenWEC imports and the CLI flags are
all derived from the one description of each option; these tests set each option to a value
other than its default and check that it survives each of them, so that an option added to
the model is covered without editing this file.
"""

from __future__ import annotations

import dataclasses
import io
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from wec.cli.main import main
from wec.model import CLIENT_VISIBLE_FIELDS, OPTIONS, OptionSpec, OutputConfig, Subscription, option
from wec.protocol import subscription_version
from wec.store.sqlite import SQLiteStore
from wec.subscriptions.export import dump_json, load_json
from wec.subscriptions.files import (
    SubscriptionFileError,
    dump_subscription,
    parse_document,
    parse_subscription,
    skeleton,
    subscription_document,
)

QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
UUID = "0b9f0d3e-6a61-4c1e-9d1f-3c8a5e2b7f10"
FILES = OutputConfig("Files", "Raw", {"path": "/var/log/wec/{ip}/messages"})
IDS = [o.name for o in OPTIONS]


def _other_value(spec: OptionSpec) -> Any:
    """A valid value that is not the default (so that a lost value shows)."""
    if spec.choices is not None:
        return spec.type(next(c for c in spec.choices if c != spec.to_plain(spec.default)))
    if spec.type is bool:
        return not spec.default
    if spec.type is int:
        assert spec.high is not None
        return spec.high - 1  # near the top: a narrower column or field would truncate it
    return f"value-of-{spec.name}"


def _base(**changes: Any) -> Subscription:
    return Subscription(uuid=UUID, name="opts", query=QUERY, outputs=(FILES,), **changes)


@pytest.fixture(params=OPTIONS, ids=IDS)
def spec(request: pytest.FixtureRequest) -> OptionSpec:
    assert isinstance(request.param, OptionSpec)
    return request.param


def test_the_spec_describes_every_option_fully() -> None:
    assert {o.name for o in OPTIONS} <= {f.name for f in dataclasses.fields(Subscription)}
    assert option("max_time").unit == "s" and option("max_elements").nullable
    for o in OPTIONS:
        assert o.help.strip(), o.name
        if o.type is int:
            assert o.low is not None and o.high is not None and o.low <= (o.default or o.low) <= o.high
    # What sources see: the name, the query and the options marked so (never uri or enabled).
    assert CLIENT_VISIBLE_FIELDS[:2] == ("name", "query")
    assert set(CLIENT_VISIBLE_FIELDS[2:]) == {o.name for o in OPTIONS if o.client_visible}
    assert not option("uri").client_visible and not option("enabled").client_visible


def test_an_option_round_trips_through_the_store(spec: OptionSpec, tmp_path: Path) -> None:
    sub = _base(**{spec.name: _other_value(spec)})
    store = SQLiteStore(str(tmp_path / "wec.sqlite"))
    try:
        store.init()
        store.put_subscription(sub)
        assert store.get_subscription(UUID) == sub
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "wec.sqlite") as db:  # a real column, not a JSON blob
        (stored,) = db.execute(f"SELECT {spec.name} FROM subscriptions").fetchone()
    plain = spec.to_plain(getattr(sub, spec.name))
    assert stored == (int(plain) if isinstance(plain, bool) else plain)


def test_an_option_round_trips_through_the_file_format(spec: OptionSpec) -> None:
    sub = _base(**{spec.name: _other_value(spec)})
    text = dump_subscription(sub)
    assert parse_subscription(text) == sub
    assert parse_document(subscription_document(sub)) == sub
    assert load_json(dump_json([sub])) == [sub]


@pytest.mark.parametrize("spec", [o for o in OPTIONS if o.nullable], ids=lambda o: o.name)
def test_an_unset_option_round_trips_as_unset(spec: OptionSpec) -> None:
    sub = _base(**{spec.name: None})
    assert f"# {spec.name} = (unset)" in dump_subscription(sub)
    assert parse_subscription(dump_subscription(sub)) == sub


def test_an_option_is_read_from_an_openwec_export(spec: OptionSpec) -> None:
    value = _other_value(spec)
    entry = {
        "uuid": UUID,
        "name": "opts",
        "query": QUERY,
        spec.name: spec.to_plain(value),
        "outputs": [{"driver": {"Files": {"path": FILES.config["path"]}}, "format": "Raw", "enabled": True}],
    }
    [sub] = load_json(orjson.dumps({"schema": "V2", "data": {"subscriptions": [entry]}}))
    assert getattr(sub, spec.name) == value
    assert sub == _base(**{spec.name: value})


def test_an_out_of_range_or_mistyped_option_is_refused(spec: OptionSpec) -> None:
    head = f"uuid = '{UUID}'\nname = 'opts'\nquery = '{QUERY}'\n[options]\n"
    tail = "[[outputs]]\ndriver = 'Files'\nformat = 'Raw'\nconfig = { path = 'x' }\n"
    bad = "[1]" if spec.type is not int else str((spec.high or 0) + 1)
    with pytest.raises(SubscriptionFileError, match=spec.name):
        parse_subscription(head + f"{spec.name} = {bad}\n" + tail)


def test_the_user_documentation_lists_every_option() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "subscriptions.md").read_text(encoding="utf-8")
    assert [o.name for o in OPTIONS if f"`{o.name}`" not in text] == []


def test_the_template_documents_every_option() -> None:
    text = skeleton()
    for o in OPTIONS:
        assert f"# {o.name} = " in text
        assert o.help.split()[0] in text


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    path = tmp_path / "wec.toml"
    path.write_text(
        textwrap.dedent(f"""\
            [database]
            type = "SQLite"
            path = "{tmp_path / "wec.sqlite"}"

            [[collectors]]
            listen_address = "127.0.0.1"

            [collectors.authentication]
            type = "Kerberos"
            service_principal_name = "HTTP/wec.test.local@WEC.TEST"
            """)
    )
    return path


def _cli(settings: Path, *argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main(["-c", str(settings), *argv], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


# `enabled` has its own verbs (enable/disable) instead of a flag.
@pytest.mark.parametrize("spec", [o for o in OPTIONS if o.cli], ids=lambda o: o.name)
def test_an_option_is_set_by_its_cli_flag_and_shown(spec: OptionSpec, settings: Path, tmp_path: Path) -> None:
    _cli(settings, "db", "init")
    query = tmp_path / "query.xml"
    query.write_text(QUERY)
    _cli(settings, "subscriptions", "new", "opts", str(query))
    value = _other_value(spec)
    text = str(spec.to_plain(value)).lower() if spec.type is bool else str(spec.to_plain(value))
    flag = "--" + spec.name.replace("_", "-")
    _cli(settings, "subscriptions", "edit", "opts", flag, text)
    shown = orjson.loads(_cli(settings, "subscriptions", "show", "opts", "-f", "json"))
    assert shown["options"][spec.name] == spec.to_plain(value)
    assert text in _cli(settings, "subscriptions", "show", "opts")
    if spec.nullable:  # the empty text (or 'none') unsets it again
        _cli(settings, "subscriptions", "edit", "opts", flag, "")
        shown = orjson.loads(_cli(settings, "subscriptions", "show", "opts", "-f", "json"))
        assert spec.name not in shown["options"]


def test_only_client_visible_options_change_the_version(spec: OptionSpec) -> None:
    before = _base()
    after = _base(**{spec.name: _other_value(spec)})
    changed = subscription_version(before) != subscription_version(after)
    assert changed is spec.client_visible
