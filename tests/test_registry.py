# SPDX-License-Identifier: GPL-3.0-or-later
"""The live subscription registry (wec.registry) over a real SQLite store: snapshots follow
the store, pipelines survive syncs that do not touch their outputs, and a pipeline replaced
while leased is closed by its last lease, never under a batch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import subscription_toml
from wec.model import OutputConfig, Subscription
from wec.outputs.pipeline import Pipeline
from wec.registry import PipelineUnavailable, SubscriptionRegistry
from wec.store import open_store
from wec.store.base import Store
from wec.store.settings import DatabaseSettings
from wec.subscriptions.files import parse_subscription

UUID = "7f1d4d2a-2f0e-4d8a-9c55-0b6f0c3a9e01"
OTHER = "0b9f6f2e-6c4d-4c1e-9a57-3d2b8e7f1a10"


class RecordingPipeline(Pipeline):
    """A pipeline without outputs that remembers being closed."""

    def __init__(self, sub: Subscription) -> None:
        super().__init__([])
        self.subscription = sub
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Builder:
    def __init__(self) -> None:
        self.built: list[RecordingPipeline] = []
        self.refuse: set[str] = set()

    def __call__(self, sub: Subscription) -> Pipeline:
        if sub.uuid in self.refuse:
            raise ValueError("no such output driver")
        pipeline = RecordingPipeline(sub)
        self.built.append(pipeline)
        return pipeline


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(DatabaseSettings(type="SQLite", path=str(tmp_path / "wec.sqlite")))
    store.init()
    store.put_subscription(parse_subscription(subscription_toml(uuid=UUID)))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def builder() -> Builder:
    return Builder()


@pytest.fixture
def registry(store: Store, builder: Builder) -> Iterator[SubscriptionRegistry]:
    registry = SubscriptionRegistry(store, builder)
    assert registry.sync()
    try:
        yield registry
    finally:
        registry.close()


def test_a_sync_without_a_store_change_does_nothing(registry: SubscriptionRegistry, builder: Builder) -> None:
    assert not registry.sync()
    assert len(builder.built) == 1


def test_a_new_subscription_gets_a_pipeline_and_the_others_keep_theirs(
    registry: SubscriptionRegistry, store: Store, builder: Builder
) -> None:
    first = builder.built[0]
    store.put_subscription(parse_subscription(subscription_toml(uuid=OTHER, name="other")))
    assert registry.sync()
    assert [p.subscription.uuid for p in builder.built] == [UUID, OTHER]
    runtime = registry.get(UUID.upper())
    assert runtime is not None and runtime.pipeline is first
    assert first.closed == 0


def test_changed_outputs_replace_an_idle_pipeline_and_close_it_at_once(
    registry: SubscriptionRegistry, store: Store, builder: Builder
) -> None:
    sub = store.get_subscription(UUID)
    assert sub is not None
    outputs = (OutputConfig(driver="Files", format="Json", config={"path": "other.json"}),)
    store.put_subscription(dataclasses.replace(sub, outputs=outputs))
    assert registry.sync()
    old, new = builder.built
    assert old.closed == 1 and new.closed == 0


def test_a_pipeline_replaced_under_a_lease_is_closed_by_the_last_release(
    registry: SubscriptionRegistry, builder: Builder
) -> None:
    runtime = registry.get(UUID.upper())
    assert runtime is not None
    with registry.pipeline(runtime) as first:
        with registry.pipeline(runtime) as again:
            assert again is first
            registry.sync(force=True)  # SIGHUP while two batches are in flight
            assert builder.built[0].closed == 0
        assert builder.built[0].closed == 0  # one lease left
    assert builder.built[0].closed == 1
    assert builder.built[1].closed == 0


def test_a_lease_takes_the_newest_pipeline_of_a_stale_runtime(
    registry: SubscriptionRegistry, builder: Builder
) -> None:
    stale = registry.get(UUID.upper())
    assert stale is not None
    registry.rebuild(UUID)
    with registry.pipeline(stale) as pipeline:
        assert pipeline is builder.built[1]
    assert builder.built[0].closed == 1 and builder.built[1].closed == 0


def test_outputs_that_cannot_be_built_make_the_lease_fail(
    store: Store, builder: Builder, caplog: pytest.LogCaptureFixture
) -> None:
    builder.refuse.add(UUID)
    registry = SubscriptionRegistry(store, builder)
    registry.sync()
    runtime = registry.get(UUID.upper())
    assert runtime is not None and runtime.pipeline is None
    assert runtime.error == "no such output driver"
    assert "cannot build its outputs" in caplog.text
    with pytest.raises(PipelineUnavailable, match="no such output driver"), registry.pipeline(runtime):
        pytest.fail("no lease without a pipeline")


def test_a_deleted_subscription_disappears_and_its_pipeline_is_closed(
    registry: SubscriptionRegistry, store: Store, builder: Builder
) -> None:
    assert store.delete_subscription(UUID)
    assert registry.sync()
    assert registry.get(UUID.upper()) is None
    assert registry.runtimes() == []
    assert builder.built[0].closed == 1


def test_close_does_not_wait_for_leases(registry: SubscriptionRegistry, builder: Builder) -> None:
    runtime = registry.get(UUID.upper())
    assert runtime is not None
    with registry.pipeline(runtime):
        registry.rebuild()
        registry.close()
        assert [p.closed for p in builder.built] == [1, 1]
    assert [p.closed for p in builder.built] == [1, 1]  # the release does not close it again
