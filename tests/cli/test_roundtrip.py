# SPDX-License-Identifier: GPL-3.0-or-later
"""Round trips: skell → load → export → import, and Windows ``wecutil`` XML both ways.

``data/wecutil-security.xml`` is written by hand in the shape of ``wecutil gs NAME
/format:xml`` output on Windows Server: UTF-16LE with a BOM, CRLF, tabs, the query in CDATA,
times in milliseconds and an SDDL for the allowed computers.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli.conftest import Cli
from wec.model import ContentFormat, Subscription
from wec.subscriptions.export import dump_json, load_json
from wec.subscriptions.files import SubscriptionFileError, parse_subscription, skeleton
from wec.subscriptions.wecutil import WecutilError, dump_windows, parse_windows


def _only(cli: Cli) -> Subscription:
    store = cli.store()
    (sub,) = store.list_subscriptions()
    store.close()
    return sub


def test_skell_load_export_import_gives_the_same_subscription(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first, second = Cli(tmp_path / "one"), Cli(tmp_path / "two")
    first.ok("db", "init")
    second.ok("db", "init")
    skell = first.write("s.toml", first.ok("subscriptions", "skell").out)
    first.ok("subscriptions", "load", str(skell), "--revision", "v1")
    export = first.write("export.json", first.ok("subscriptions", "export").out)
    second.ok("subscriptions", "import", str(export))
    assert _only(second) == _only(first)
    assert _only(first) == parse_subscription(skell.read_text(), revision="v1")
    # and import is idempotent
    again = second.ok("subscriptions", "import", str(export))
    assert "= unchanged my-subscription" in again.err


def test_export_to_a_file_and_as_toml_loads_back(cli: Cli) -> None:
    skell = cli.write("s.toml", skeleton())
    cli.ok("subscriptions", "load", str(skell))
    out = cli.dir / "export.json"
    cli.ok("subscriptions", "export", "my-subscription", "-o", str(out))
    assert load_json(out.read_bytes()) == [_only(cli)]
    toml = cli.ok("subscriptions", "export", "-f", "toml", "my-subscription").out
    assert parse_subscription(toml) == _only(cli)
    assert cli("subscriptions", "export", "-f", "toml").code == 0  # one subscription: fine
    cli.ok("subscriptions", "duplicate", "my-subscription", "copy")
    assert cli("subscriptions", "export", "-f", "windows").code == 2  # two: name one


def test_import_of_a_bad_export_is_a_usage_error_naming_the_entry(cli: Cli) -> None:
    bad = cli.write(
        "bad.json", '{"format": "wec-subscriptions", "version": 1, "subscriptions": [{"name": "x"}]}'
    )
    r = cli("subscriptions", "import", str(bad))
    assert r.code == 2 and "subscription #1" in r.err and "'uuid'" in r.err
    assert cli("subscriptions", "import", str(cli.write("x.json", "not json"))).code == 2


def test_windows_export_imports_with_the_right_options(cli: Cli, data: Path) -> None:
    path = data / "wecutil-security.xml"
    assert path.read_bytes()[:2] == b"\xff\xfe"
    r = cli.ok("subscriptions", "import", "--format", "windows", str(path))
    sub = _only(cli)
    assert sub.name == "Forwarded-Security"
    assert sub.max_time == 45  # MaxLatencyTime 45000 ms
    assert sub.max_elements == 250
    assert sub.heartbeat_interval == 600  # Interval 600000 ms
    assert sub.read_existing_events is True
    assert sub.content_format is ContentFormat.RENDERED_TEXT
    assert sub.locale == "fr-FR"
    assert sub.enabled is True and sub.outputs == () and not sub.is_offerable()
    assert sub.uri is None  # <Uri> is the Windows resource URI, not wec's uri option
    assert "EventID=4624 or EventID=4688" in sub.query and "Sysmon/Operational" in sub.query
    assert sub.query.startswith("<QueryList>")
    assert "AllowedSourceDomainComputers" in r.err and "ignored" in r.err and "[filter]" in r.err
    # defaults for what Windows does not say
    assert (sub.connection_retry_count, sub.connection_retry_interval) == (5, 60)


def test_windows_import_can_print_a_loadable_file_instead(cli: Cli, data: Path) -> None:
    r = cli.ok("subscriptions", "import", "-f", "windows", str(data / "wecutil-security.xml"), "--print",
               "--uuid", "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95", "--name", "sec")  # fmt: skip
    assert 'uuid = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"' in r.out and 'name = "sec"' in r.out
    store = cli.store()
    assert store.list_subscriptions() == []  # --print changes nothing
    store.close()


def test_windows_export_then_import_keeps_what_windows_can_say(cli: Cli) -> None:
    sub = Subscription(
        uuid=Subscription.new_uuid(),
        name="rt & <co>",
        query=(
            '<QueryList><Query Id="0"><Select Path="System">*[System[Level&lt;=3]]</Select>'
            "</Query></QueryList>"
        ),
        max_time=900,
        max_elements=5,
        heartbeat_interval=900,
        read_existing_events=True,
        content_format=ContentFormat.RENDERED_TEXT,
        locale="de-DE",
        enabled=False,
    )
    data, warnings = dump_windows(sub)
    assert data.startswith(b"\xff\xfe") and warnings == ()
    back = parse_windows(data, uuid=sub.uuid).subscription
    assert back == sub


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("SourceInitiated", "CollectorInitiated"), "source-initiated"),
        (lambda t: t.replace("<SubscriptionId>Forwarded-Security</SubscriptionId>", ""), "SubscriptionId"),
        (lambda t: t.replace("45000", "soon"), "MaxLatencyTime"),
        (lambda t: t.replace("<ContentFormat>RenderedText", "<ContentFormat>Html"), "ContentFormat"),
        (lambda t: t.replace("<QueryList>", "<QueryLst>", 1), "Query"),
        (lambda t: t[:200], "well-formed"),
    ],
)
def test_unusable_windows_documents_raise_wecutil_error(data: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    text = (data / "wecutil-security.xml").read_bytes().decode("utf-16")
    with pytest.raises(WecutilError, match=message):
        parse_windows(mutate(text).encode("utf-16"))


def test_windows_presets_apply_without_explicit_delivery_values() -> None:
    doc = (
        '<Subscription xmlns="http://schemas.microsoft.com/2006/03/windows/events/subscription">'
        "<SubscriptionId>p</SubscriptionId><ConfigurationMode>MinBandwidth</ConfigurationMode>"
        '<Delivery Mode="Pull"/><Query><![CDATA[<QueryList><Query Id="0"><Select Path="System">*</Select>'
        "</Query></QueryList>]]></Query><Bogus/></Subscription>"
    )
    imported = parse_windows(doc.encode("utf-8"))
    assert (imported.subscription.max_time, imported.subscription.heartbeat_interval) == (21600, 21600)
    assert any("Pull" in w for w in imported.warnings)
    assert any("<Bogus>" in w for w in imported.warnings)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_either_import_or_raise_wecutil_error(blob: bytes) -> None:
    with contextlib.suppress(WecutilError):
        parse_windows(blob)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_json_input_either_imports_or_raises_subscription_file_error(blob: bytes | str) -> None:
    with contextlib.suppress(SubscriptionFileError):
        load_json(blob)


def test_dump_json_of_nothing_is_an_empty_export() -> None:
    assert load_json(dump_json([])) == []
