# SPDX-License-Identifier: GPL-3.0-or-later
"""Bringing the database in line with a set of subscription files (``wec subscriptions load``).

Two steps, so that the CLI can show what will happen and ask before doing it:

* :func:`plan_load` compares the files with the store and returns a :class:`LoadPlan` (to add,
  to update with the changed fields, to delete, unchanged, and warnings);
* :func:`apply_load` carries it out, refusing if the subscriptions changed in between.

As with OpenWEC, subscriptions missing from the files are deleted unless ``keep`` — and with
them their bookmarks, which the plan's warnings count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from wec.model import CLIENT_VISIBLE_FIELDS, FilterKind, Subscription
from wec.store.base import Store
from wec.subscriptions.query import QueryError, added_channels, parse_query

__all__ = ["LoadError", "LoadPlan", "SubscriptionChange", "apply_load", "plan_load"]

_COMPARED = tuple(f.name for f in dataclasses.fields(Subscription) if f.name != "uuid")


class LoadError(ValueError):
    """The plan cannot be applied (a name clash, or the store changed since planning)."""


@dataclass(frozen=True)
class SubscriptionChange:
    old: Subscription
    new: Subscription
    changed: dict[str, tuple[Any, Any]]  # field -> (old value, new value)
    added_channels: frozenset[str]

    @property
    def resubscribe(self) -> bool:
        """True if sources see the change, so they re-subscribe (docs/protocol.md §3.7)."""
        return any(f in CLIENT_VISIBLE_FIELDS for f in self.changed)


@dataclass(frozen=True)
class LoadPlan:
    add: tuple[Subscription, ...]
    update: tuple[SubscriptionChange, ...]
    delete: tuple[Subscription, ...]
    unchanged: tuple[Subscription, ...]
    warnings: tuple[str, ...]
    generation: int  # store.subscriptions_generation() when planned

    def is_empty(self) -> bool:
        """True if applying the plan would change nothing."""
        return not (self.add or self.update or self.delete)

    # Spelled as the CLI reads them.
    @property
    def to_add(self) -> tuple[Subscription, ...]:
        return self.add

    @property
    def to_update(self) -> tuple[SubscriptionChange, ...]:
        return self.update

    @property
    def to_delete(self) -> tuple[Subscription, ...]:
        return self.delete

    def report(self) -> str:
        """:meth:`describe` as one text, for printing before asking for confirmation."""
        lines = self.describe()
        if self.is_empty():
            lines.append("nothing to change")
        return "\n".join(lines)

    def describe(self) -> list[str]:
        """Human-readable lines for the CLI's report."""
        lines = [f"+ add {s.name} ({s.uuid})" for s in self.add]
        for c in self.update:
            note = " — sources will re-subscribe" if c.resubscribe else ""
            lines.append(f"~ update {c.new.name} ({c.new.uuid}){note}")
            for field, (old, new) in c.changed.items():
                lines.append(f"    {field}: {_short(old)} -> {_short(new)}")
        lines += [f"- delete {s.name} ({s.uuid})" for s in self.delete]
        lines += [f"= unchanged {s.name}" for s in self.unchanged]
        lines += [f"! {w}" for w in self.warnings]
        return lines


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _diff(old: Subscription, new: Subscription) -> dict[str, tuple[Any, Any]]:
    return {f: (getattr(old, f), getattr(new, f)) for f in _COMPARED if getattr(old, f) != getattr(new, f)}


def _query_warnings(sub: Subscription) -> list[str]:
    try:
        return [f"{sub.name}: {w}" for w in parse_query(sub.query).warnings]
    except QueryError as err:
        return [f"{sub.name}: {err}"]


def _filter_warnings(sub: Subscription) -> list[str]:
    if sub.filter is None or sub.filter.kind is not FilterKind.MACHINE_ID:
        return []
    return [
        f"{sub.name}: the filter is on MachineID, which the source writes itself and nobody "
        "authenticates: any source can claim any value (filter on Client to restrict by identity)"
    ]


def plan_load(store: Store, loaded: list[Subscription], *, keep: bool) -> LoadPlan:
    """What loading ``loaded`` would change. Raises :class:`LoadError` on a name clash."""
    generation = store.subscriptions_generation()
    current = {s.uuid: s for s in store.list_subscriptions()}
    incoming = {s.uuid: s for s in loaded}
    add, update, unchanged, warnings = [], [], [], []
    for sub in loaded:
        old = current.get(sub.uuid)
        if old is None:
            add.append(sub)
            warnings += _query_warnings(sub) + _filter_warnings(sub)
            continue
        changed = _diff(old, sub)
        if not changed:
            unchanged.append(sub)
            continue
        added = frozenset(added_channels(old.query, sub.query)) if "query" in changed else frozenset()
        update.append(SubscriptionChange(old, sub, changed, added))
        if "query" in changed:
            warnings += _query_warnings(sub)
        if "filter" in changed:
            warnings += _filter_warnings(sub)
        if added:
            warnings.append(
                f"{sub.name}: the query adds channel(s) {', '.join(sorted(added))}: every source that "
                f"already has a bookmark will send their whole history, whatever read_existing_events says"
            )
    delete = [] if keep else [s for uuid, s in current.items() if uuid not in incoming]
    for sub in delete:
        count = len(store.list_bookmarks(sub_uuid=sub.uuid))
        if count:
            warnings.append(f"{sub.name}: deleting it also deletes the bookmarks of {count} source(s)")
    if not loaded and delete:
        warnings.append("no subscription was loaded: every subscription would be deleted")

    # Names must stay unique after the change (the store enforces it one put at a time).
    remaining = {uuid: s.name for uuid, s in current.items() if uuid not in {d.uuid for d in delete}}
    remaining.update({s.uuid: s.name for s in loaded})
    seen: dict[str, str] = {}
    for uuid, name in remaining.items():
        if name in seen:
            raise LoadError(f"two subscriptions would be named {name!r}: {seen[name]} and {uuid}")
        seen[name] = uuid
    # A rename onto the name another *updated or kept* subscription still holds (a swap) would
    # clash half-way through; ask for two loads instead.
    old_names = {s.name: uuid for uuid, s in current.items() if uuid not in {d.uuid for d in delete}}
    for c in update:
        holder = old_names.get(c.new.name)
        if "name" in c.changed and holder is not None and holder != c.new.uuid:
            raise LoadError(f"{c.new.name!r} is taken by {holder} until it is renamed: rename in two loads")
    return LoadPlan(tuple(add), tuple(update), tuple(delete), tuple(unchanged), tuple(warnings), generation)


def apply_load(store: Store, plan: LoadPlan) -> None:
    """Carry out ``plan``: deletes first (freeing names), then updates, then additions."""
    if store.subscriptions_generation() != plan.generation:
        raise LoadError("the subscriptions changed since the plan was made: plan again")
    for sub in plan.delete:
        store.delete_subscription(sub.uuid)
    for change in plan.update:
        store.put_subscription(change.new)
    for sub in plan.add:
        store.put_subscription(sub)
