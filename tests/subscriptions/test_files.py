# SPDX-License-Identifier: GPL-3.0-or-later
"""Subscription files in OpenWEC's TOML format (docs/protocol.md §11.2)."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wec.model import (
    ClientFilter,
    ContentFormat,
    FilterKind,
    FilterOperation,
    OutputConfig,
    Subscription,
)
from wec.outputs.files import files_legacy_path
from wec.subscriptions.files import (
    SubscriptionFileError,
    dump_subscription,
    load_file,
    load_path,
    parse_flags,
    parse_subscription,
    skeleton,
)

DATA = Path(__file__).parent / "data"
QUERY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'
BASE = f"""
uuid = "b2b3c4d5-0000-4000-8000-0000000000aa"
name = "t"
query = '{QUERY}'
"""
OUTPUT = """
[[outputs]]
driver = "Files"
format = "Raw"
config = { path = "/tmp/x" }
"""


def test_a_full_openwec_file_loads_every_key() -> None:
    sub = load_file(DATA / "full.toml", revision="r7")
    assert sub.uuid == "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"  # canonical lowercase
    assert sub.name == "security-core"
    assert sub.query.lstrip().startswith("<QueryList>")
    assert (sub.enabled, sub.uri) == (False, "/wsman/SubscriptionManager/WEC")
    assert (sub.heartbeat_interval, sub.connection_retry_count, sub.connection_retry_interval) == (
        900,
        10,
        120,
    )
    assert (sub.max_time, sub.max_elements, sub.max_envelope_size) == (60, 50, 256000)
    assert sub.read_existing_events is True
    assert sub.content_format is ContentFormat.RENDERED_TEXT
    assert sub.ignore_channel_error is False
    assert (sub.locale, sub.data_locale, sub.revision) == ("fr-FR", "en-US", "r7")
    assert sub.filter == ClientFilter(
        FilterOperation.ONLY,
        FilterKind.CLIENT,
        ("WIN10$@WINDOMAIN.LOCAL", "SRV*@WINDOMAIN.LOCAL"),  # the alias 'princs'; repeats removed
        case_insensitive=True,
        glob=True,
    )
    assert [(o.driver, o.format, o.enabled) for o in sub.outputs] == [
        ("Files", "Json", True),
        ("Kafka", "Raw", False),
        ("Tcp", "RawJson", True),
        ("Redis", "Nxlog", True),
        ("UnixDatagram", "Raw", True),
        ("MongoDB", "Json", True),
    ]
    assert sub.outputs[1].config == {"topic": "wec-a,wec-b", "options": {"bootstrap.servers": "kafka1:9092"}}
    tcp = sub.outputs[2].config
    assert tcp["host"] == "siem.corp.example" and "addr" not in tcp  # old name 'addr' → 'host'
    assert tcp["tls_certificate_authorities"] == ["/etc/wec/ca.pem"]  # one path → a list


def test_options_default_to_openwecs_values() -> None:
    sub = load_file(DATA / "minimal.toml")
    assert sub == Subscription(
        uuid="b2b3c4d5-0000-4000-8000-000000000002",
        name="minimal",
        query=sub.query,
        outputs=(OutputConfig("Files", "Json", {"path": "/var/log/wec/{ip}/messages"}),),
    )
    assert (sub.heartbeat_interval, sub.max_time, sub.enabled, sub.ignore_channel_error) == (
        3600,
        30,
        True,
        True,
    )


def test_legacy_files_keys_become_a_path() -> None:
    sub = load_file(DATA / "legacy_files.toml")
    assert sub.outputs[0].config == {"path": "/data/wec/{ip:2}/{ip:3}/{ip}/{principal}/{node}/events.log"}
    assert sub.outputs[1].config == {"path": "/data/wec/{ip}/{principal}/messages"}


@pytest.mark.parametrize(
    ("args", "path"),
    [
        (("/b", None, None, None), "/b/{ip}/{principal}/messages"),
        (("/b", 1, None, None), "/b/{ip:1}/{ip:2}/{ip:3}/{ip}/{principal}/messages"),
        (("/b", 3, False, None), "/b/{ip:3}/{ip}/{principal}/messages"),
        (("/b", 4, None, None), "/b/{ip}/{principal}/messages"),
        (("/b", None, True, "x"), "/b/{ip}/{principal}/{node}/x"),
        ((None, None, None, None), "{ip}/{principal}/messages"),
    ],
)
def test_legacy_path_conversion(
    args: tuple[str | None, int | None, bool | None, str | None], path: str
) -> None:
    assert files_legacy_path(*args) == path


def _err(text: str) -> str:
    with pytest.raises(SubscriptionFileError) as info:
        parse_subscription(text, source="/etc/wec/subs/x.toml")
    message = str(info.value)
    assert message.startswith("/etc/wec/subs/x.toml: ")
    return message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (BASE + "colour = 1\n" + OUTPUT, "'colour'"),
        (BASE + "[options]\nmax_tiem = 5\n" + OUTPUT, "'max_tiem' in [options]"),
        (BASE + "[filter]\noperation = 'Only'\nprincipals = []\n" + OUTPUT, "'principals' in [filter]"),
        (BASE + OUTPUT.replace("enabled", "x") + "colour = 1\n", "'colour' in [[outputs]] #1"),
        (
            BASE + OUTPUT.replace("path =", "paht ="),
            "[[outputs]] #1 config: Files: unknown config key 'paht'",
        ),
    ],
)
def test_unknown_keys_are_rejected_naming_the_key_and_file(text: str, named: str) -> None:
    assert named in _err(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace("b2b3c4d5-0000-4000-8000-0000000000aa", "not-a-uuid") + OUTPUT, "not a valid UUID"),
        (BASE.replace('name = "t"', 'name = "  "') + OUTPUT, "name must not be empty"),
        (BASE.replace('name = "t"\n', "") + OUTPUT, "missing required key 'name'"),
        (BASE, "at least one [[outputs]]"),
        (
            BASE + "[options]\ncontent_format = 'Rendered'\n" + OUTPUT,
            "'Rendered' is not one of Raw, RenderedText",
        ),
        (BASE + "[options]\nmax_time = 0\n" + OUTPUT, "out of range"),
        (BASE + "[options]\nheartbeat_interval = -5\n" + OUTPUT, "out of range"),
        (BASE + "[options]\nmax_elements = 4294967296\n" + OUTPUT, "out of range"),
        (BASE + "[options]\nmax_time = '30'\n" + OUTPUT, "must be an integer"),
        (BASE + "[options]\nmax_time = true\n" + OUTPUT, "must be an integer"),
        (BASE + "[options]\nenabled = 1\n" + OUTPUT, "must be true or false"),
        (BASE + OUTPUT.replace('"Files"', '"Elastic"'), "'Elastic' is not one of Files"),
        (BASE + OUTPUT.replace('"Raw"', '"Xml"'), "'Xml' is not one of Raw"),
        (BASE + "[[outputs]]\ndriver = 'Tcp'\nformat = 'Raw'\nconfig = { host = 'h' }\n", "'port'"),
        (
            BASE
            + "[[outputs]]\ndriver = 'Tcp'\nformat = 'Raw'\nconfig = { host = 'h', addr = 'a', port = 1 }\n",
            "both 'host'",
        ),
        (
            BASE + "[[outputs]]\ndriver = 'Tcp'\nformat = 'Raw'\nconfig = { host = 'h', port = 70000 }\n",
            "out of range",
        ),
        (BASE + "[[outputs]]\ndriver = 'Kafka'\nformat = 'Raw'\nconfig = { options = {} }\n", "'topic'"),
        (
            BASE + "[[outputs]]\ndriver = 'Redis'\nformat = 'Raw'\nconfig = { addr = 'a', list = 3 }\n",
            "'list': expected a non-empty string",
        ),
        (
            BASE + "[[outputs]]\ndriver = 'Files'\nformat = 'Raw'\nconfig = { path = 1979-05-27 }\n",
            "holds a date",
        ),
        (BASE + "[filter]\noperation = 'Only'\nflags = 'Glob'\n" + OUTPUT, "unknown flag 'Glob'"),
        (BASE + "[filter]\noperation = 'Maybe'\n" + OUTPUT, "'Maybe' is not one of Only, Except"),
        (BASE + "[filter]\noperation = 'Only'\ntype = 'Computer'\n" + OUTPUT, "'Computer' is not one of"),
        (BASE + "[filter]\noperation = 'Only'\ntargets = ['a']\nprincs = ['b']\n" + OUTPUT, "targets twice"),
        (BASE + "[filter]\noperation = 'Only'\ntargets = 'a'\n" + OUTPUT, "array of strings"),
        (BASE + "options = 3\n" + OUTPUT, "must be a table"),
        ("uuid = \n", "invalid TOML"),
    ],
)
def test_invalid_files_raise_subscription_file_error(text: str, message: str) -> None:
    assert message in _err(text)


def test_driver_and_format_names_are_case_insensitive() -> None:
    # Issue 15: `driver = "files"` was refused although the meaning is plain.
    text = BASE + OUTPUT.replace('"Files"', '"files"').replace('"Raw"', '"JSON"')
    (out,) = parse_subscription(text).outputs
    assert (out.driver, out.format) == ("Files", "Json")


def test_a_syslog_driver_points_at_tcp_with_a_syslog_table() -> None:
    message = _err(BASE + OUTPUT.replace('"Files"', '"Syslog"'))
    assert "'Syslog' is not one of Files" in message
    assert 'driver = "Tcp"' in message and "syslog = {" in message


@pytest.mark.parametrize(
    "query",
    [
        "",
        "<QueryList>",
        "<Query/>",
        "<QueryList></QueryList>",
        '<QueryList><Query Id="0"></Query></QueryList>',
        '<QueryList><Query Id="0"><Select>*</Select></Query></QueryList>',  # no Path anywhere
        '<QueryList><Query Id="0"><Suppress Path="S">*</Suppress></Query></QueryList>',
        "<QueryList><Other/></QueryList>",
        '<!DOCTYPE x [<!ENTITY e "boom">]>'
        '<QueryList><Query><Select Path="&e;">*</Select></Query></QueryList>',
    ],
)
def test_a_bad_query_is_rejected(query: str) -> None:
    assert "query" in _err(BASE.replace(f"'{QUERY}'", repr(query).replace("\\'", "'")) + OUTPUT)


def test_subscription_file_error_is_a_value_error() -> None:
    assert issubclass(SubscriptionFileError, ValueError)


@pytest.mark.parametrize(
    ("text", "glob", "ci"),
    [
        ("", False, False),
        ("GlobPattern", True, False),
        ("CaseInsensitive", False, True),
        ("GlobPattern | CaseInsensitive", True, True),
        ("CaseInsensitive|GlobPattern", True, True),
        (" GlobPattern |  ", True, False),
    ],
)
def test_filter_flags_parse(text: str, glob: bool, ci: bool) -> None:
    assert parse_flags(text) == {"glob": glob, "case_insensitive": ci}


def test_a_filter_without_operation_filters_nothing_as_in_openwec() -> None:
    sub = parse_subscription(BASE + "[filter]\ntargets = ['a']\n" + OUTPUT)
    assert sub.filter is None


def test_filter_type_machine_id_and_cert_subjects_alias() -> None:
    sub = parse_subscription(
        BASE + "[filter]\noperation = 'Except'\ntype = 'MachineID'\ncert_subjects = ['pc1']\n" + OUTPUT
    )
    assert sub.filter == ClientFilter(FilterOperation.EXCEPT, FilterKind.MACHINE_ID, ("pc1",))


def test_dump_then_load_gives_the_same_subscription() -> None:
    sub = load_file(DATA / "full.toml")
    text = dump_subscription(sub)
    tomllib.loads(text)  # valid TOML on its own
    assert parse_subscription(text) == sub
    again = dump_subscription(parse_subscription(text))
    assert again == text


def test_dump_keeps_the_revision_out_of_the_data() -> None:
    sub = load_file(DATA / "minimal.toml", revision="r1")
    text = dump_subscription(sub)
    assert "revision 'r1'" in text
    assert parse_subscription(text) == dataclasses.replace(sub, revision=None)
    assert parse_subscription(text, revision="r1") == sub


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    name=_text.filter(lambda s: s.strip() != ""),
    path=_text,
    locale=st.none() | _text,
    tail=st.sampled_from(["", "'", "''", "'''", "\r\n", '"""', "\\", "\x7f", "\x00"]),
)
def test_dump_round_trips_awkward_strings(name: str, path: str, locale: str | None, tail: str) -> None:
    # A query is XML, so its text can only end with markup or whitespace (CR LF included).
    query_tail = tail if tail in ("", "\r\n") else ""
    query = (
        "<QueryList><Query Id='0'><Select Path='Security'>"
        "*[System[Provider[@Name='x']]]</Select></Query></QueryList>"
    )
    query += query_tail
    sub = Subscription(
        uuid=Subscription.new_uuid(),
        name=name + tail,
        query=query,
        locale=locale,
        filter=ClientFilter(FilterOperation.ONLY, targets=tuple(dict.fromkeys((name, path + tail)))),
        outputs=(
            OutputConfig(
                "Kafka", "Json", {"topic": "t" + path + tail, "options": {"client.id": name + tail + path}}
            ),
        ),
    )
    assert parse_subscription(dump_subscription(sub)) == sub


@pytest.mark.parametrize("minimal", [False, True])
def test_the_skeleton_loads_as_is(minimal: bool) -> None:
    text = skeleton(minimal)
    sub = parse_subscription(text)
    assert sub.outputs == (
        OutputConfig("Files", "Json", {"path": "/var/log/wec/{ip:2}/{ip}/{client}/messages"}),
    )
    assert (sub.max_time, sub.heartbeat_interval, sub.enabled) == (30, 3600, True)
    assert len(text.splitlines()) > (20 if minimal else 50)
    assert parse_subscription(skeleton(minimal)).uuid != sub.uuid  # a fresh uuid each time


def test_the_full_skeleton_documents_every_option() -> None:
    text = skeleton(False)
    for option in (
        "enabled", "uri", "heartbeat_interval", "connection_retry_count", "connection_retry_interval",
        "max_time", "max_elements", "max_envelope_size", "read_existing_events", "content_format",
        "ignore_channel_error", "locale", "data_locale", "operation", "type", "flags", "targets",
    ):  # fmt: skip
        assert f"# {option} = " in text


def test_load_path_reads_a_directory_sorted(tmp_path: Path) -> None:
    for f in ("minimal.toml", "legacy_files.toml", "full.toml"):
        shutil.copy(DATA / f, tmp_path / f)
    (tmp_path / "notes.txt").write_text("not a subscription")
    subs = load_path(tmp_path, revision="r2")
    assert [s.name for s in subs] == ["security-core", "legacy", "minimal"]  # full, legacy_files, minimal
    assert {s.revision for s in subs} == {"r2"}
    assert load_path(tmp_path / "minimal.toml")[0].name == "minimal"


@pytest.mark.parametrize(
    ("field", "value"), [("uuid", "b2b3c4d5-0000-4000-8000-000000000002"), ("name", "minimal")]
)
def test_load_path_rejects_duplicates_across_files(tmp_path: Path, field: str, value: str) -> None:
    shutil.copy(DATA / "minimal.toml", tmp_path / "a.toml")
    text = (DATA / "legacy_files.toml").read_text()
    if field == "uuid":
        text = text.replace("b2b3c4d5-0000-4000-8000-000000000001", value)
    else:
        text = text.replace('name = "legacy"', f'name = "{value}"')
    (tmp_path / "b.toml").write_text(text)
    with pytest.raises(SubscriptionFileError, match=rf"b\.toml: {field} .* already used by .*a\.toml"):
        load_path(tmp_path)


def test_load_path_of_a_missing_or_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionFileError, match="no such file"):
        load_path(tmp_path / "nope")
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(SubscriptionFileError, match=r"bad\.toml: cannot read"):
        load_path(tmp_path)


def test_an_empty_directory_loads_nothing(tmp_path: Path) -> None:
    assert load_path(tmp_path) == []


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=300))
def test_any_text_either_parses_or_raises_subscription_file_error(text: str) -> None:
    with contextlib.suppress(SubscriptionFileError):
        parse_subscription(text)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["uuid", "name", "query", "options", "filter", "outputs", "version"]),
        st.recursive(
            st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=8,
        ).filter(lambda v: v is not None),
    )
)
def test_any_toml_structure_either_parses_or_raises_subscription_file_error(doc: dict[str, object]) -> None:
    from wec.subscriptions import _toml

    text = "\n".join(f"{k} = {_toml.value(v)}" for k, v in doc.items())
    with contextlib.suppress(SubscriptionFileError):
        parse_subscription(text)


def test_a_directory_load_reads_subfolders_and_skips_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "sysmon").mkdir()
    (tmp_path / ".git").mkdir()
    minimal = (Path(__file__).parent / "data" / "minimal.toml").read_text()
    (tmp_path / "a.toml").write_text(minimal)
    second = minimal.replace(parse_subscription(minimal).uuid, "0b9e2f4c-1d3a-4e5b-8c7d-6a5f4e3d2c1b")
    second = second.replace(f'name = "{parse_subscription(minimal).name}"', 'name = "in-a-subfolder"')
    (tmp_path / "sysmon" / "b.toml").write_text(second)
    (tmp_path / ".git" / "c.toml").write_text("not a subscription")
    names = sorted(s.name for s in load_path(tmp_path))
    assert names == sorted([parse_subscription(minimal).name, "in-a-subfolder"])
