# SPDX-License-Identifier: GPL-3.0-or-later
"""plan_load / apply_load: what `wec subscriptions load` shows, then does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from wec.cli.sync import LoadError, apply_load, plan_load
from wec.model import OutputConfig, Subscription
from wec.store.sqlite import SQLiteStore
from wec.subscriptions.files import load_path

DATA = Path(__file__).parent / "data"
SECURITY = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "wec.sqlite"))
    s.init()
    yield s
    s.close()


def _sub(name: str, **kw: object) -> Subscription:
    fields: dict[str, object] = {
        "uuid": Subscription.new_uuid(),
        "name": name,
        "query": SECURITY,
        "outputs": (OutputConfig("Files", "Raw", {"path": f"/tmp/{name}"}),),
    }
    fields.update(kw)
    return Subscription(**fields)  # type: ignore[arg-type]


def test_loading_into_an_empty_store_adds_everything(store: SQLiteStore) -> None:
    loaded = load_path(DATA)
    plan = plan_load(store, loaded, keep=False)
    assert [s.name for s in plan.add] == [s.name for s in loaded]
    assert plan.update == plan.delete == plan.unchanged == ()
    apply_load(store, plan)
    assert sorted(s.name for s in store.list_subscriptions()) == sorted(s.name for s in loaded)
    again = plan_load(store, load_path(DATA), keep=False)
    assert again.is_empty() and len(again.unchanged) == len(loaded)


def test_update_lists_the_changed_fields_and_whether_sources_resubscribe(store: SQLiteStore) -> None:
    old = _sub("a")
    store.put_subscription(old)
    outputs_only = dataclasses.replace(
        old, outputs=(OutputConfig("Tcp", "Json", {"host": "h", "port": 1}),), enabled=False
    )
    (change,) = plan_load(store, [outputs_only], keep=False).update
    assert set(change.changed) == {"outputs", "enabled"}
    assert change.changed["enabled"] == (True, False)
    assert change.resubscribe is False  # docs/protocol.md §3.7: neither is seen by sources
    visible = dataclasses.replace(old, max_time=900)
    (change,) = plan_load(store, [visible], keep=False).update
    assert change.changed == {"max_time": (30, 900)} and change.resubscribe is True
    lines = plan_load(store, [visible], keep=False).describe()
    assert any("re-subscribe" in ln for ln in lines) and any("max_time: 30 -> 900" in ln for ln in lines)


def test_a_query_adding_channels_warns_about_history_replay(store: SQLiteStore) -> None:
    old = _sub("a")
    store.put_subscription(old)
    new = dataclasses.replace(
        old,
        query=(
            '<QueryList><Query Id="0"><Select Path="Security">*</Select>'
            '<Select Path="System">*</Select></Query></QueryList>'
        ),
    )
    plan = plan_load(store, [new], keep=False)
    (change,) = plan.update
    assert change.added_channels == {"System"}
    assert any("adds channel(s) System" in w and "whole history" in w for w in plan.warnings)
    narrower = dataclasses.replace(old, query=SECURITY.replace("*", "*[System[(EventID=1)]]"))
    assert not any("adds channel" in w for w in plan_load(store, [narrower], keep=False).warnings)


def test_subscriptions_missing_from_the_files_are_deleted_unless_keep(store: SQLiteStore) -> None:
    gone, kept = _sub("gone"), _sub("kept")
    store.put_subscription(gone)
    store.put_subscription(kept)
    store.put_bookmark("pc", gone.uuid, "<BookmarkList/>")
    plan = plan_load(store, [kept], keep=False)
    assert plan.delete == (gone,) and plan.unchanged == (kept,)
    assert any("bookmarks of 1 source" in w for w in plan.warnings)
    assert plan_load(store, [kept], keep=True).delete == ()
    apply_load(store, plan)
    assert store.list_subscriptions() == [kept]


def test_loading_nothing_warns_that_everything_goes(store: SQLiteStore) -> None:
    store.put_subscription(_sub("a"))
    plan = plan_load(store, [], keep=False)
    assert len(plan.delete) == 1
    assert any("every subscription would be deleted" in w for w in plan.warnings)
    assert plan_load(store, [], keep=True).is_empty()


def test_new_subscriptions_get_query_limit_warnings(store: SQLiteStore) -> None:
    ids = " or ".join(f"EventID={i}" for i in range(30))
    wide = _sub(
        "wide",
        query=(
            f"<QueryList><Query Id='0'><Select Path='Security'>*[System[({ids})]]</Select>"
            "</Query></QueryList>"
        ),
    )
    assert any(
        w.startswith("wide: ") and "clauses" in w for w in plan_load(store, [wide], keep=False).warnings
    )


def test_a_name_clash_is_refused_before_anything_changes(store: SQLiteStore) -> None:
    store.put_subscription(_sub("taken"))
    with pytest.raises(LoadError, match="'taken'"):
        plan_load(store, [_sub("taken")], keep=True)
    # Without keep the old one is deleted first, so the name is free.
    plan = plan_load(store, [_sub("taken")], keep=False)
    apply_load(store, plan)
    assert [s.name for s in store.list_subscriptions()] == ["taken"]


def test_a_name_swap_is_refused(store: SQLiteStore) -> None:
    a, b = _sub("a"), _sub("b")
    store.put_subscription(a)
    store.put_subscription(b)
    with pytest.raises(LoadError, match="two loads"):
        plan_load(store, [dataclasses.replace(a, name="b"), dataclasses.replace(b, name="a")], keep=False)


def test_a_stale_plan_is_refused(store: SQLiteStore) -> None:
    plan = plan_load(store, [_sub("a")], keep=False)
    store.put_subscription(_sub("meanwhile"))
    with pytest.raises(LoadError, match="plan again"):
        apply_load(store, plan)
    assert [s.name for s in store.list_subscriptions()] == ["meanwhile"]


def test_updating_keeps_bookmarks(store: SQLiteStore) -> None:
    old = _sub("a")
    store.put_subscription(old)
    store.put_bookmark("pc", old.uuid, "<BookmarkList/>")
    apply_load(store, plan_load(store, [dataclasses.replace(old, max_time=60)], keep=False))
    assert store.get_bookmark("pc", old.uuid) == "<BookmarkList/>"


def test_report_is_the_text_the_cli_prints(store: SQLiteStore) -> None:
    assert plan_load(store, [], keep=False).report() == "nothing to change"
    a = _sub("a")
    plan = plan_load(store, [a], keep=False)
    assert plan.to_add == (a,) and plan.to_update == () and plan.to_delete == ()
    assert plan.report() == f"+ add a ({a.uuid})"
