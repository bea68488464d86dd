# SPDX-License-Identifier: GPL-3.0-or-later
"""subscription_version changes exactly when something the source sees changes (§3.7)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from wec.model import (
    CLIENT_VISIBLE_FIELDS,
    ClientFilter,
    ComputerMismatch,
    ContentFormat,
    FilterOperation,
    OutputConfig,
    Subscription,
)
from wec.protocol import subscription_version

BASE = Subscription(
    uuid="9d4c2b7a-1e3f-4a58-8c6d-0b7e2f1a3c95",
    name="security-core",
    query='<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>',
    outputs=(OutputConfig(driver="Files", format="Json", config={"path": "/var/log/wec/{ip}"}),),
)

# One changed value per client-visible field.
VISIBLE_CHANGES: dict[str, object] = {
    "name": "security-core-2",
    "query": '<QueryList><Query Id="0"><Select Path="System">*</Select></Query></QueryList>',
    "heartbeat_interval": 900,
    "connection_retry_count": 6,
    "connection_retry_interval": 61,
    "max_time": 31,
    "max_elements": 100,
    "max_envelope_size": 512001,
    "read_existing_events": True,
    "content_format": ContentFormat.RENDERED_TEXT,
    "ignore_channel_error": False,
    "locale": "en-US",
    "data_locale": "en-US",
}

INVISIBLE_CHANGES: dict[str, object] = {
    "uuid": "0b1c2d3e-4f50-4612-8734-95a6b7c8d9e0",
    "uri": "/wsman/SubscriptionManager/WEC",
    "enabled": False,
    "revision": "r2",
    "filter": ClientFilter(operation=FilterOperation.ONLY, targets=("WS042$@CORP.EXAMPLE",)),
    "outputs": (OutputConfig(driver="Tcp", format="Raw", config={"host": "siem", "port": 514}),),
    "computer_mismatch": ComputerMismatch.DROP,  # checked by the collector, never sent to sources
}


def test_the_change_table_covers_every_client_visible_field() -> None:
    assert set(VISIBLE_CHANGES) == set(CLIENT_VISIBLE_FIELDS)
    all_fields = {f.name for f in dataclasses.fields(Subscription)}
    assert set(VISIBLE_CHANGES) | set(INVISIBLE_CHANGES) == all_fields


def test_version_is_an_uppercase_uuid_without_prefix() -> None:
    version = subscription_version(BASE)
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-8[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}", version)


def test_version_is_deterministic() -> None:
    copy = dataclasses.replace(BASE)
    assert subscription_version(copy) == subscription_version(BASE)


@pytest.mark.parametrize("field", sorted(VISIBLE_CHANGES))
def test_version_changes_with_each_client_visible_field(field: str) -> None:
    changed = dataclasses.replace(BASE, **{field: VISIBLE_CHANGES[field]})  # type: ignore[arg-type]
    assert subscription_version(changed) != subscription_version(BASE)


@pytest.mark.parametrize("field", sorted(INVISIBLE_CHANGES))
def test_version_ignores_fields_the_source_cannot_see(field: str) -> None:
    changed = dataclasses.replace(BASE, **{field: INVISIBLE_CHANGES[field]})  # type: ignore[arg-type]
    assert subscription_version(changed) == subscription_version(BASE)


def test_content_format_as_enum_or_plain_string_gives_the_same_version() -> None:
    as_string = dataclasses.replace(BASE, content_format="Raw")  # type: ignore[arg-type]
    assert subscription_version(as_string) == subscription_version(BASE)


def test_distinct_fields_do_not_collide_by_value_shifting() -> None:
    # "max_elements=None, locale='x'" must differ from "max_elements='x'" style confusions:
    # the encoding is keyed JSON, so moving a value between fields changes the digest.
    a = dataclasses.replace(BASE, locale="en-US", data_locale=None)
    b = dataclasses.replace(BASE, locale=None, data_locale="en-US")
    assert subscription_version(a) != subscription_version(b)


def test_known_value_is_stable_across_releases() -> None:
    # Pinned: changing the digest makes every source in the field re-subscribe once.
    assert subscription_version(BASE) == subscription_version(
        Subscription(uuid=BASE.uuid, name=BASE.name, query=BASE.query)
    )
    assert subscription_version(BASE) == PINNED


PINNED = "DA59579B-7C3F-8B97-9B2F-B4A66B6E0607"
