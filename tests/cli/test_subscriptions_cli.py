# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec subscriptions …`` verbs against a real SQLite database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.cli.conftest import QUERY, Cli, Result, subscription_file
from wec.cli.main import main
from wec.protocol import subscription_version

UUID_A = "9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95"
UUID_B = "5a9e0c3b-7d21-4e6f-8a90-1b2c3d4e5f60"


def _load(cli: Cli, *files: tuple[str, str], args: tuple[str, ...] = ()) -> None:
    d = cli.dir / "subs"
    d.mkdir(exist_ok=True)
    for name, text in files:
        (d / name).write_text(text)
    cli.ok("subscriptions", "load", str(d), *args)


@pytest.fixture
def loaded(cli: Cli) -> Cli:
    _load(
        cli,
        ("a.toml", subscription_file("security", UUID_A)),
        ("b.toml", subscription_file("sysmon", UUID_B, options="enabled = false")),
    )
    return cli


# --- list / show --------------------------------------------------------------------------------


def test_list_shows_every_subscription_as_an_aligned_table(loaded: Cli) -> None:
    r = loaded.ok("subscriptions")
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAME", "UUID", "STATE", "URI", "OUTPUTS"]
    assert lines[1].split() == ["security", UUID_A, "enabled", "*", "Files/Json"]
    assert lines[2].split() == ["sysmon", UUID_B, "disabled", "*", "Files/Json"]
    assert lines[1].index(UUID_A) == lines[2].index(UUID_B)  # aligned columns
    assert "\x1b[" not in r.out  # not a terminal: no colour codes


def test_list_filters_enabled_and_disabled_and_speaks_json(loaded: Cli) -> None:
    assert [x["name"] for x in loaded.ok("subscriptions", "-e", "-f", "json").json()] == ["security"]
    assert [
        x["name"] for x in loaded.ok("subscriptions", "list", "--disabled", "--format", "json").json()
    ] == ["sysmon"]
    entry = loaded.ok("subscriptions", "--format", "json").json()[0]
    assert entry["outputs"] == [{"driver": "Files", "format": "Json", "enabled": True}]
    assert entry["offered"] is True


def test_options_given_before_a_verb_are_not_reset_by_its_defaults(loaded: Cli) -> None:
    # argparse copies a sub-parser's defaults over what the parent parsed: `wec subscriptions
    # -f json list` printed a table, and `-d list` listed the enabled ones too.
    assert [x["name"] for x in loaded.ok("subscriptions", "-f", "json", "list").json()] == [
        "security",
        "sysmon",
    ]
    assert [x["name"] for x in loaded.ok("subscriptions", "-d", "-f", "json", "list").json()] == ["sysmon"]
    assert loaded.ok("subscriptions", "-f", "json", "show", "security").json()["name"] == "security"
    assert loaded.ok("subscriptions", "-f", "json", "clients", "security").json()["machines"] == []
    # Given after the verb, they still work, and the verb's own value wins.
    assert [x["name"] for x in loaded.ok("subscriptions", "list", "-e", "-f", "json").json()] == ["security"]
    assert (
        "Subscription security"
        in loaded.ok("subscriptions", "-f", "json", "show", "security", "-f", "text").out
    )


def test_an_empty_database_says_so(cli: Cli) -> None:
    r = cli.ok("subscriptions")
    assert r.out == "" and "no subscription" in r.err


def test_show_prints_options_outputs_query_and_the_version_sources_see(loaded: Cli) -> None:
    r = loaded.ok("subscriptions", "show", "security")
    store = loaded.store()
    sub = store.get_subscription("security")
    store.close()
    assert sub is not None
    assert subscription_version(sub) in r.out
    assert "heartbeat_interval    3600 s" in r.out
    assert "/var/log/wec/{ip}/{client}/messages" in r.out
    assert QUERY in r.out
    by_uuid = loaded.ok("subscriptions", "show", UUID_A.upper())
    assert by_uuid.out == r.out  # any uuid spelling works


def test_show_json_and_toml_are_complete(loaded: Cli) -> None:
    d = loaded.ok("subscriptions", "show", "sysmon", "-f", "json").json()
    assert d["uuid"] == UUID_B and d["options"]["enabled"] is False and d["offered"] is False
    toml = loaded.ok("subscriptions", "show", "sysmon", "-f", "toml").out
    assert f'uuid = "{UUID_B}"' in toml and "enabled = false" in toml


def test_an_unknown_subscription_is_exit_code_1_with_a_clear_message(loaded: Cli) -> None:
    r = loaded("subscriptions", "show", "nope")
    assert r.code == 1
    assert "no subscription with uuid or name 'nope'" in r.err
    assert r.out == ""


class _Terminal(io.StringIO):
    """Typed answers on a terminal."""

    def isatty(self) -> bool:
        return True


def _load_on_terminal(cli: Cli, path: Path, answer: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = main(["-c", str(cli.config), "subscriptions", "load", str(path)], stdout=out, stderr=err,
                stdin=_Terminal(answer))  # fmt: skip
    return Result(code, out.getvalue(), err.getvalue())


def _bookmark(cli: Cli, uuid: str) -> None:
    store = cli.store()
    store.put_bookmark("WIN10$@WEC.TEST", uuid, "<BookmarkList/>")
    store.close()


def _names_and_bookmarks(cli: Cli) -> tuple[list[str], int]:
    store = cli.store()
    try:
        return [s.name for s in store.list_subscriptions()], len(store.list_bookmarks())
    finally:
        store.close()


# --- skell / load -------------------------------------------------------------------------------


def test_skell_needs_no_settings_and_loads_as_is(tmp_path: Path) -> None:
    import io

    from tests.cli.conftest import Result  # noqa: F401  (documentation of the shape)
    from wec.cli.main import main

    out = io.StringIO()
    assert main(["-c", str(tmp_path / "absent.toml"), "subscriptions", "skell"], stdout=out) == 0
    assert "uuid = " in out.getvalue() and "# heartbeat_interval = 3600" in out.getvalue()
    minimal = io.StringIO()
    assert main(["subscriptions", "skell", "--minimal"], stdout=minimal) == 0
    assert "# heartbeat_interval" not in minimal.getvalue()


def test_load_reports_the_plan_and_a_second_load_changes_nothing(cli: Cli) -> None:
    d = cli.dir / "subs"
    d.mkdir()
    (d / "a.toml").write_text(subscription_file("security", UUID_A))
    r = cli.ok("subscriptions", "load", str(d))
    assert f"+ add security ({UUID_A})" in r.err
    again = cli.ok("subscriptions", "load", str(d))
    assert "= unchanged security" in again.err and "nothing to change" in again.err


def test_loading_a_directory_deletes_what_is_not_in_it_unless_keep(loaded: Cli) -> None:
    d = loaded.dir / "only-a"
    d.mkdir()
    (d / "a.toml").write_text(subscription_file("security", UUID_A))
    kept = loaded.ok("subscriptions", "load", "--keep", str(d))
    assert "delete" not in kept.err
    r = loaded.ok("subscriptions", "load", str(d))  # sysmon has no bookmark: no question
    assert f"- delete sysmon ({UUID_B})" in r.err
    assert [x["name"] for x in loaded.ok("subscriptions", "-f", "json").json()] == ["security"]


def test_loading_a_single_file_asks_before_deleting_the_others(loaded: Cli) -> None:
    _bookmark(loaded, UUID_B)
    f = loaded.write("one.toml", subscription_file("security", UUID_A))
    refused = loaded("subscriptions", "load", str(f))
    assert refused.code == 1 and "--yes" in refused.err  # no terminal to ask on
    assert len(loaded.ok("subscriptions", "-f", "json").json()) == 2
    loaded.ok("subscriptions", "load", str(f), "-y")
    assert len(loaded.ok("subscriptions", "-f", "json").json()) == 1


def test_an_empty_directory_is_refused_unless_allow_empty(loaded: Cli) -> None:
    empty = loaded.dir / "empty"
    empty.mkdir()
    r = loaded("subscriptions", "load", str(empty))
    assert r.code == 2 and "--allow-empty" in r.err
    assert len(loaded.ok("subscriptions", "-f", "json").json()) == 2
    loaded.ok("subscriptions", "load", "--allow-empty", str(empty))
    assert loaded.ok("subscriptions", "-f", "json").json() == []


def test_load_records_the_revision_and_reports_file_errors_with_exit_2(cli: Cli) -> None:
    f = cli.write("a.toml", subscription_file("security", UUID_A))
    cli.ok("subscriptions", "load", str(f), "--revision", "git-1a2b3c")
    assert cli.ok("subscriptions", "show", "security", "-f", "json").json()["revision"] == "git-1a2b3c"
    bad = cli.write("bad/x.toml", subscription_file("x", options="max_tiem = 3"))
    r = cli("subscriptions", "load", str(bad.parent))
    assert r.code == 2 and "unknown key 'max_tiem' in [options]" in r.err


def test_a_directory_load_that_deletes_bookmarks_is_refused_without_a_terminal(loaded: Cli) -> None:
    # Issue 15, bug 2: with no terminal and no --yes, the deletion went through (exit 0).
    _bookmark(loaded, UUID_B)
    d = loaded.dir / "only-a"
    d.mkdir()
    (d / "a.toml").write_text(subscription_file("security", UUID_A))

    r = loaded("subscriptions", "load", str(d))

    assert r.code == 1
    assert f"- delete sysmon ({UUID_B})" in r.err  # the plan is printed
    assert "bookmarks of 1 source(s)" in r.err and "--yes" in r.err
    assert _names_and_bookmarks(loaded) == (["security", "sysmon"], 1)  # nothing changed
    loaded.ok("subscriptions", "load", str(d), "--yes")
    assert _names_and_bookmarks(loaded) == (["security"], 0)


def test_a_load_that_deletes_bookmarks_asks_on_a_terminal(loaded: Cli) -> None:
    _bookmark(loaded, UUID_B)
    d = loaded.dir / "only-a"
    d.mkdir()
    (d / "a.toml").write_text(subscription_file("security", UUID_A))

    no = _load_on_terminal(loaded, d, "n\n")
    assert no.code == 1 and "apply it? [y/N]" in no.err and "nothing changed" in no.err
    assert _names_and_bookmarks(loaded) == (["security", "sysmon"], 1)
    yes = _load_on_terminal(loaded, d, "y\n")
    assert yes.code == 0 and "1 deleted" in yes.err
    assert _names_and_bookmarks(loaded) == (["security"], 0)


def test_a_load_that_replays_history_of_bookmarked_sources_needs_yes(loaded: Cli) -> None:
    _bookmark(loaded, UUID_A)
    q = (
        '<QueryList><Query Id="0"><Select Path="Security">*</Select>'
        '<Select Path="System">*</Select></Query></QueryList>'
    )
    (loaded.dir / "subs" / "a.toml").write_text(subscription_file("security", UUID_A, query=q))

    r = loaded("subscriptions", "load", str(loaded.dir / "subs"))

    assert r.code == 1 and "whole history" in r.err and "--yes" in r.err
    assert "System" not in loaded.ok("subscriptions", "show", "security", "-f", "json").json()["query"]
    loaded.ok("subscriptions", "load", str(loaded.dir / "subs"), "-y")
    assert "System" in loaded.ok("subscriptions", "show", "security", "-f", "json").json()["query"]


def test_load_warns_when_a_query_edit_adds_a_channel(loaded: Cli) -> None:
    d = loaded.dir / "subs"
    q = (
        '<QueryList><Query Id="0"><Select Path="Security">*</Select>'
        '<Select Path="System">*</Select></Query></QueryList>'
    )
    (d / "a.toml").write_text(subscription_file("security", UUID_A, query=q))
    r = loaded.ok("subscriptions", "load", str(d))
    assert "sources will re-subscribe" in r.err
    assert "warning: security: the query adds channel(s) System" in r.err


# --- new / edit -----------------------------------------------------------------------------------


def test_new_creates_a_disabled_subscription_without_outputs(cli: Cli) -> None:
    q = cli.write("q.xml", QUERY)
    r = cli.ok("subscriptions", "new", "fresh", str(q), "--preset", "min-bandwidth", "--locale", "en-US")
    uuid = r.out.strip()
    d = cli.ok("subscriptions", "show", uuid, "-f", "json").json()
    assert d["name"] == "fresh" and d["options"]["enabled"] is False and d["outputs"] == []
    assert d["options"]["max_time"] == 21600 and d["options"]["heartbeat_interval"] == 21600
    assert d["options"]["locale"] == "en-US"
    assert "outputs add" in r.err
    dup = cli("subscriptions", "new", "fresh", str(q))
    assert dup.code == 1 and "already exists" in dup.err


def test_new_refuses_a_malformed_query(cli: Cli) -> None:
    q = cli.write("q.xml", "<QueryList><Query>")
    r = cli("subscriptions", "new", "x", str(q))
    assert r.code == 2 and "not well-formed" in r.err


def test_edit_changes_common_options_and_says_when_sources_resubscribe(loaded: Cli) -> None:
    before = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["version"]
    r = loaded.ok("subscriptions", "edit", "security", "--max-time", "900", "--max-elements", "50",
                  "--content-format", "RenderedText", "--read-existing-events", "true")  # fmt: skip
    assert "sources will re-subscribe" in r.err and "max_time: 30 -> 900" in r.err
    d = loaded.ok("subscriptions", "show", "security", "-f", "json").json()
    assert d["options"]["max_time"] == 900 and d["options"]["max_elements"] == 50
    assert d["options"]["content_format"] == "RenderedText" and d["options"]["read_existing_events"] is True
    assert d["version"] != before
    loaded.ok("subscriptions", "edit", "security", "--max-elements", "none")
    assert (
        "max_elements" not in loaded.ok("subscriptions", "show", "security", "-f", "json").json()["options"]
    )


def test_edit_of_invisible_options_keeps_the_version(loaded: Cli) -> None:
    before = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["version"]
    r = loaded.ok("subscriptions", "edit", "security", "--uri", "/wsman/SubscriptionManager/WEC",
                  "--filter", "Only", "--filter-targets", "WIN10$@WEC.TEST", "--revision", "r2")  # fmt: skip
    assert "re-subscribe" not in r.err
    d = loaded.ok("subscriptions", "show", "security", "-f", "json").json()
    assert d["version"] == before
    assert d["options"]["uri"] == "/wsman/SubscriptionManager/WEC"
    assert d["filter"] == {"operation": "Only", "type": "Client", "targets": ["WIN10$@WEC.TEST"]}
    assert d["revision"] == "r2"


def test_edit_filter_flags_type_and_removal(loaded: Cli) -> None:
    no_op = loaded("subscriptions", "edit", "security", "--filter-targets", "A")
    assert no_op.code == 2 and "--filter Only" in no_op.err
    loaded.ok("subscriptions", "edit", "security", "--filter", "Except", "--filter-type", "MachineID",
              "--filter-flags", "GlobPattern | CaseInsensitive",
              "--filter-targets", "lab-*, test-?")  # fmt: skip
    f = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["filter"]
    assert f == {"operation": "Except", "type": "MachineID", "targets": ["lab-*", "test-?"],
                 "flags": "GlobPattern | CaseInsensitive"}  # fmt: skip
    bad = loaded("subscriptions", "edit", "security", "--filter-flags", "Regex")
    assert bad.code == 2 and "unknown flag 'Regex'" in bad.err
    loaded.ok("subscriptions", "edit", "security", "--filter", "none")
    assert "filter" not in loaded.ok("subscriptions", "show", "security", "-f", "json").json()


def test_edit_query_rename_and_out_of_range_values(loaded: Cli) -> None:
    q = loaded.write("q.xml", QUERY.replace("Security", "Application"))
    r = loaded.ok("subscriptions", "edit", "security", "--query", str(q), "--name", "apps")
    assert "the query adds channel(s) Application" in r.err
    assert loaded.ok("subscriptions", "show", "apps", "-f", "json").json()["query"] == q.read_text()
    bad = loaded("subscriptions", "edit", "apps", "--heartbeat-interval", "0")
    assert bad.code == 2 and "heartbeat_interval" in bad.err and "out of range" in bad.err
    clash = loaded("subscriptions", "edit", "apps", "--name", "sysmon")
    assert clash.code == 1 and "sysmon" in clash.err
    same = loaded.ok("subscriptions", "edit", "apps", "--max-time", "30")
    assert "nothing to change" in same.err


def test_edit_outputs_add_disable_enable_delete(loaded: Cli) -> None:
    loaded.ok("subscriptions", "edit", "security", "outputs", "add", "-d", "Tcp", "-f", "Raw",
              "--set", "host=127.0.0.1", "--set", "port=5140")  # fmt: skip
    outs = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["outputs"]
    assert outs[1] == {"driver": "Tcp", "format": "Raw", "enabled": True,
                       "config": {"host": "127.0.0.1", "port": 5140}}  # fmt: skip
    loaded.ok("subscriptions", "edit", "security", "outputs", "disable", "1")
    loaded.ok("subscriptions", "edit", "security", "outputs", "add", "-d", "Files", "-f", "Raw",
              "--config", '{"path": "/tmp/x/{client}"}', "--disabled")  # fmt: skip
    outs = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["outputs"]
    assert [o["enabled"] for o in outs] == [False, True, False]
    loaded.ok("subscriptions", "edit", "security", "outputs", "delete", "2")
    loaded.ok("subscriptions", "edit", "security", "outputs", "enable", "2")
    outs = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["outputs"]
    assert [(o["driver"], o["enabled"]) for o in outs] == [("Files", False), ("Files", True)]
    missing = loaded("subscriptions", "edit", "security", "outputs", "delete", "7")
    assert missing.code == 2 and "no output #7" in missing.err
    bad = loaded("subscriptions", "edit", "security", "outputs", "add", "-d", "Redis", "-f", "Raw")
    assert bad.code == 2 and "Redis" in bad.err and "'addr'" in bad.err  # the driver's own check


def test_outputs_add_takes_names_in_any_case_and_explains_syslog(loaded: Cli) -> None:
    loaded.ok("subscriptions", "edit", "security", "outputs", "add", "-d", "files", "-f", "json",
              "--set", "path=/tmp/x/{client}")  # fmt: skip
    outs = loaded.ok("subscriptions", "show", "security", "-f", "json").json()["outputs"]
    assert (outs[-1]["driver"], outs[-1]["format"]) == ("Files", "Json")
    syslog = loaded("subscriptions", "edit", "security", "outputs", "add", "-d", "Syslog", "-f", "Raw")
    assert syslog.code == 2 and "-d Tcp" in syslog.err and "syslog" in syslog.err


# --- enable / disable / delete / duplicate / reload -------------------------------------------------


def test_enable_and_disable_by_name_or_all(loaded: Cli) -> None:
    loaded.ok("subscriptions", "enable", "sysmon")
    assert loaded.ok("subscriptions", "-d", "-f", "json").json() == []
    r = loaded.ok("subscriptions", "enable", "sysmon")
    assert "already enabled" in r.err
    loaded.ok("subscriptions", "disable", "--all")
    assert len(loaded.ok("subscriptions", "-d", "-f", "json").json()) == 2
    assert loaded("subscriptions", "enable").code == 2  # nothing named
    assert loaded("subscriptions", "enable", "security", "--all").code == 2


def test_enabling_a_subscription_without_outputs_warns(cli: Cli) -> None:
    q = cli.write("q.xml", QUERY)
    cli.ok("subscriptions", "new", "bare", str(q))
    r = cli.ok("subscriptions", "enable", "bare")
    assert "no enabled output" in r.err
    assert cli.ok("subscriptions", "-f", "json").json()[0]["offered"] is False


def test_delete_asks_and_removes_bookmarks_too(loaded: Cli) -> None:
    store = loaded.store()
    store.put_bookmark("WIN10$@WEC.TEST", UUID_A, "<BookmarkList/>")
    store.close()
    r = loaded("subscriptions", "delete", "security")
    assert r.code == 2 and "bookmarks of 1 source(s)" in r.err
    loaded.ok("subscriptions", "delete", "security", "--yes")
    store = loaded.store()
    assert store.get_subscription(UUID_A) is None and store.list_bookmarks() == []
    store.close()


def test_duplicate_makes_a_disabled_copy_with_a_new_uuid(loaded: Cli) -> None:
    uuid = loaded.ok("subscriptions", "duplicate", "security", "security-2").out.strip()
    assert uuid != UUID_A
    a = loaded.ok("subscriptions", "show", "security", "-f", "json").json()
    b = loaded.ok("subscriptions", "show", "security-2", "-f", "json").json()
    assert b["uuid"] == uuid and b["options"]["enabled"] is False
    assert a["query"] == b["query"] and a["outputs"] == b["outputs"]
    assert loaded("subscriptions", "duplicate", "security", "sysmon").code == 1


def test_reload_bumps_the_reload_counter_and_the_generation_only(loaded: Cli) -> None:
    store = loaded.store()
    gen, before = store.subscriptions_generation(), store.list_subscriptions()
    store.close()
    r = loaded.ok("subscriptions", "reload", "security")
    assert "within 2 s" in r.err
    loaded.ok("subscriptions", "reload", "--all")
    store = loaded.store()
    assert store.reload_counters() == {UUID_A: 2, UUID_B: 1}
    assert store.subscriptions_generation() > gen
    assert store.list_subscriptions() == before  # nothing a source sees changed
    store.close()


def test_read_only_subscriptions_blocks_edits_but_not_load_or_reload(loaded: Cli) -> None:
    loaded.read_only()
    q = loaded.write("q.xml", QUERY)
    for args in (
        ("enable", "sysmon"),
        ("disable", "security"),
        ("edit", "security", "--max-time", "5"),
        ("delete", "security", "-y"),
        ("duplicate", "security", "copy"),
        ("new", "x", str(q)),
    ):
        r = loaded("subscriptions", *args)
        assert r.code == 2, args
        assert "read_only_subscriptions" in r.err
    loaded.ok("subscriptions", "reload", "security")
    loaded.ok("subscriptions", "load", str(loaded.dir / "subs"))
    assert [s["name"] for s in loaded.ok("subscriptions", "-e", "-f", "json").json()] == ["security"]
