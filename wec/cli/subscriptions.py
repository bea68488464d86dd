# SPDX-License-Identifier: GPL-3.0-or-later
"""``wec subscriptions …``: list, show, load, skell, new, edit, enable/disable, delete,
duplicate, export/import, reload.

Every change goes through :func:`wec.cli.sync.plan_load` and ``apply_load``, as a file
load would: the same checks, the same report ("sources will re-subscribe", channels whose
history will be replayed), and the same guard against a concurrent change.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from wec.cli.common import EXIT_USAGE, CliError, Context
from wec.cli.render import Cell, Table
from wec.cli.sync import LoadError, LoadPlan, apply_load, plan_load
from wec.formats import FORMAT_NAMES
from wec.model import (
    OPTIONS,
    ClientFilter,
    FilterKind,
    FilterOperation,
    OptionSpec,
    OutputConfig,
    Subscription,
)
from wec.outputs.registry import DRIVERS
from wec.sanitize import redact_mapping
from wec.subscriptions.files import (
    SubscriptionFileError,
    canonical_name,
    dump_subscription,
    load_path,
    parse_document,
    parse_flags,
    skeleton,
    subscription_document,
)
from wec.subscriptions.presets import DeliveryPreset, apply_preset
from wec.subscriptions.query import QueryError, parse_query

__all__ = ["add_parsers"]


# --- helpers ---------------------------------------------------------------------------------


def _outputs_text(sub: Subscription) -> str:
    return ", ".join(f"{o.driver}/{o.format}" + ("" if o.enabled else " (off)") for o in sub.outputs) or "-"


def _state(sub: Subscription) -> Cell:
    if not sub.enabled:
        return Cell("disabled")
    if not sub.is_offerable():
        return Cell("no output", "yellow")  # enabled, but never offered
    return Cell("enabled")


def _validate(sub: Subscription, where: str) -> Subscription:
    """Run a changed subscription through the file rules (ranges, query, output configs)."""
    doc = subscription_document(sub)
    try:
        return parse_document(doc, source=where, revision=sub.revision, allow_no_outputs=True)
    except SubscriptionFileError as err:
        raise CliError(str(err), EXIT_USAGE) from err


def _report(ctx: Context, plan: LoadPlan) -> None:
    for line in plan.describe():
        if line.startswith("! "):
            ctx.out.warn(line[2:])
        else:
            ctx.out.note(line)


def _apply(ctx: Context, subs: list[Subscription]) -> LoadPlan:
    """Put ``subs`` (new or changed) without deleting anything else; report the change."""
    try:
        plan = plan_load(ctx.store, subs, keep=True)
        _report(ctx, plan)
        apply_load(ctx.store, plan)
    except LoadError as err:
        raise CliError(str(err)) from err
    return plan


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"cannot read {path}: {err}", EXIT_USAGE) from err


# --- list / show --------------------------------------------------------------------------------


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    subs = ctx.store.list_subscriptions()
    if args.enabled:
        subs = [s for s in subs if s.enabled]
    if args.disabled:
        subs = [s for s in subs if not s.enabled]
    if args.format == "json":
        ctx.out.json(
            [
                {
                    "uuid": s.uuid,
                    "name": s.name,
                    "enabled": s.enabled,
                    "offered": s.is_offerable(),
                    "uri": s.uri,
                    "revision": s.revision,
                    "outputs": [
                        {"driver": o.driver, "format": o.format, "enabled": o.enabled} for o in s.outputs
                    ],
                }
                for s in subs
            ]
        )
        return 0
    if not subs:
        ctx.out.note("no subscription")
        return 0
    table = Table(["NAME", "UUID", "STATE", "URI", "OUTPUTS"])
    for s in subs:
        table.add(s.name, s.uuid, _state(s), s.uri or "*", _outputs_text(s))
    ctx.out.table(table)
    return 0


def _redacted(sub: Subscription) -> Subscription:
    """The subscription with the secrets of its outputs masked, for display."""
    outputs = tuple(dataclasses.replace(o, config=redact_mapping(o.config)) for o in sub.outputs)
    return dataclasses.replace(sub, outputs=outputs)


def _show_dict(sub: Subscription) -> dict[str, Any]:
    from wec.protocol import subscription_version
    from wec.subscriptions.export import subscription_to_json_dict

    return {
        **subscription_to_json_dict(sub),
        "version": subscription_version(sub),
        "offered": sub.is_offerable(),
    }


def _show_value(spec: OptionSpec, value: Any) -> str:
    if value is None:
        return spec.unset
    if isinstance(value, bool):
        return str(value).lower()
    text = str(spec.to_plain(value))
    return f"{text} {spec.unit}" if spec.unit else text


# Rows of `show` that hold two options: (row name, first, second) → "first × second".
_PAIRED_ROWS = (("connection_retry", "connection_retry_count", "connection_retry_interval"),)


def _option_rows(sub: Subscription) -> list[tuple[str, str | Cell]]:
    values = {o.name: _show_value(o, getattr(sub, o.name)) for o in OPTIONS}
    rows: list[tuple[str, str | Cell]] = []
    paired = {first: (row, second) for row, first, second in _PAIRED_ROWS}
    seconds = {second for _, _, second in _PAIRED_ROWS}
    for o in OPTIONS:
        if o.name == "enabled" or o.name in seconds:  # `enabled` is the "state" row
            continue
        if o.name in paired:
            row, second = paired[o.name]
            rows.append((row, f"{values[o.name]} × {values[second]}"))
        else:
            rows.append((o.name, values[o.name]))
    return rows


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    from wec.protocol import subscription_version

    sub = ctx.subscription(args.subscription)
    shown = sub if getattr(args, "show_secrets", False) else _redacted(sub)
    if args.format == "json":
        ctx.out.json({**_show_dict(shown), "version": subscription_version(sub)})
        return 0
    if args.format == "toml":
        if shown is not sub:
            ctx.out.raw("# output secrets are masked: use --show-secrets for a file that can be loaded\n")
        ctx.out.raw(dump_subscription(shown))
        return 0
    o = ctx.out
    unset = "(unset)"
    rows: list[tuple[str, str | Cell]] = [
        ("name", sub.name),
        ("uuid", sub.uuid),
        ("version", subscription_version(sub)),
        ("state", _state(sub)),
        ("revision", sub.revision or unset),
    ]
    rows += _option_rows(sub)
    if sub.filter is None:
        rows.append(("filter", "(every source)"))
    else:
        f = sub.filter
        flags = [n for n, on in (("GlobPattern", f.glob), ("CaseInsensitive", f.case_insensitive)) if on]
        rows.append(("filter", f"{f.operation.value} {f.kind.value} {', '.join(f.targets) or '(none)'}"))
        if flags:
            rows.append(("filter flags", " | ".join(flags)))
    info = Table(["OPTION", "VALUE"], title=f"Subscription {sub.name}")
    for k, v in rows:
        info.add(k, v)
    o.table(info)
    outputs = Table(["#", "DRIVER", "FORMAT", "STATE", "CONFIG"], title="Outputs")
    for i, out in enumerate(sub.outputs, 1):
        outputs.add(
            str(i),
            out.driver,
            out.format,
            Cell("enabled" if out.enabled else "disabled"),
            orjson.dumps(out.config if shown is sub else redact_mapping(out.config)).decode(),
        )
    if sub.outputs:
        o.line()
        o.table(outputs)
    else:
        o.line()
        o.line("no outputs: add one with `wec subscriptions edit NAME outputs add` or a file")
    o.line()
    o.line("Query:")
    o.raw(sub.query.strip() + "\n")
    return 0


# --- files: skell / load ---------------------------------------------------------------------


def cmd_skell(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out.raw(skeleton(minimal=args.minimal))
    return 0


def _risks(ctx: Context, plan: LoadPlan) -> list[str]:
    """What in ``plan`` cannot be undone: bookmarks deleted with their subscription, and
    channels added to subscriptions whose sources already have bookmarks (a history replay).
    Deleting a subscription no source has used yet loses nothing: it needs no --yes."""
    risks = []
    lost = {s.name: len(ctx.store.list_bookmarks(sub_uuid=s.uuid)) for s in plan.to_delete}
    lost = {name: n for name, n in lost.items() if n}
    if lost:
        risks.append(f"deletes {', '.join(lost)} with the bookmarks of {sum(lost.values())} source(s)")
    replay = [c.new.name for c in plan.to_update if c.added_channels and ctx.store.list_bookmarks(c.new.uuid)]
    if replay:
        names = ", ".join(replay)
        risks.append(f"makes the sources of {names} send the whole history of the added channel(s)")
    return risks


def _interactive(ctx: Context) -> bool:
    try:
        return bool(ctx.stdin.isatty())
    except (AttributeError, ValueError):
        return False


def cmd_load(ctx: Context, args: argparse.Namespace) -> int:
    path = Path(args.path)
    try:
        loaded = load_path(path, revision=args.revision)
    except SubscriptionFileError as err:
        raise CliError(str(err), EXIT_USAGE) from err
    if not loaded and not args.allow_empty:
        raise CliError(
            f"{path} holds no subscription: loading it would delete every subscription "
            "(use --allow-empty if that is what you want)",
            EXIT_USAGE,
        )
    try:
        plan = plan_load(ctx.store, loaded, keep=args.keep)
    except LoadError as err:
        raise CliError(str(err)) from err
    _report(ctx, plan)
    if plan.is_empty():
        ctx.out.note("nothing to change")
        return 0
    # One rule for a file and a directory (docs/subscriptions.md): a plan that loses bookmarks
    # (a deletion) or makes sources replay history (a channel added where bookmarks exist) is
    # confirmed on a terminal, refused without one unless --yes. A lost bookmark is a
    # full-history replay for every source of that subscription.
    risks = _risks(ctx, plan)
    if risks and not args.yes:
        if not _interactive(ctx):
            raise CliError(
                f"not applied: this load {'; '.join(risks)}. Nothing changed: check the plan above "
                "and run again with --yes (or --keep to delete nothing)"
            )
        if not ctx.confirm(f"this load {'; '.join(risks)}: apply it?", False):
            raise CliError("nothing changed")
    try:
        apply_load(ctx.store, plan)
    except LoadError as err:
        raise CliError(str(err)) from err
    ctx.out.note(
        f"loaded: {len(plan.to_add)} added, {len(plan.to_update)} updated, {len(plan.to_delete)} deleted, "
        f"{len(plan.unchanged)} unchanged"
    )
    return 0


# --- options shared by new and edit ----------------------------------------------------------


def _name_of(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type: a driver or format name in any case (``files`` is ``Files``)."""

    def parse(text: str) -> str:
        known = canonical_name(text, allowed)
        if known is None:
            hint = " (syslog: use -d Tcp with a `syslog` table in --config, see docs/outputs.md)"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not one of {', '.join(allowed)}" + (hint if text.casefold() == "syslog" else "")
            )
        return known

    return parse


def _tri(text: str) -> bool:
    low = text.lower()
    if low in ("true", "yes", "1", "on"):
        return True
    if low in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_int(text: str) -> int | None:
    if text.lower() in ("none", "unset", ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None


def _optional_str(text: str) -> str | None:
    return text or None


def _flag_help(spec: OptionSpec) -> str:
    unset = {int: " ('none' = unset)", str: " ('' = unset)"}.get(spec.type, "") if spec.nullable else ""
    # argparse formats help with %: a literal percent sign would break --help.
    return (spec.help.rstrip(".") + unset).replace("%", "%%")


def _add_option_flag(g: argparse._ArgumentGroup, spec: OptionSpec) -> None:
    flag = "--" + spec.name.replace("_", "-")
    kwargs: dict[str, Any] = {"help": _flag_help(spec)}
    if spec.choices is not None:
        kwargs["choices"] = spec.choices
    elif spec.type is bool:
        kwargs.update(type=_tri, metavar="true|false")
    elif spec.type is int:
        unit = {"s": "S", "bytes": "BYTES"}.get(spec.unit or "", "N")
        kwargs.update(
            type=_optional_int if spec.nullable else int, metavar=unit + ("|none" if spec.nullable else "")
        )
    else:
        kwargs.update(type=_optional_str, metavar=spec.metavar or "TEXT")
    # Absent flags leave no attribute, so that "not given" differs from "set to unset".
    g.add_argument(flag, default=argparse.SUPPRESS, **kwargs)


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("subscription options (see docs/subscriptions.md)")
    g.add_argument(
        "--preset",
        choices=[x.value for x in DeliveryPreset],
        help="Microsoft's delivery preset: sets max_time and heartbeat_interval",
    )
    for spec in OPTIONS:
        if spec.cli:
            _add_option_flag(g, spec)
    f = p.add_argument_group("client filter")
    f.add_argument("--filter", dest="filter_operation", choices=["Only", "Except", "none"],
                   help="Only/Except the targets; 'none' removes the filter")  # fmt: skip
    f.add_argument("--filter-type", choices=[k.value for k in FilterKind])
    f.add_argument("--filter-flags", metavar="FLAGS", help='e.g. "GlobPattern | CaseInsensitive" ("" = none)')
    f.add_argument("--filter-targets", metavar="A,B,…", help="comma-separated principals or MachineIDs")


def _apply_options(sub: Subscription, args: argparse.Namespace) -> Subscription:
    if args.preset is not None:
        sub = apply_preset(sub, args.preset)
    changes = {
        o.name: o.from_plain(getattr(args, o.name)) for o in OPTIONS if o.cli and hasattr(args, o.name)
    }
    sub = dataclasses.replace(sub, **changes)
    return dataclasses.replace(sub, filter=_apply_filter(sub.filter, args))


def _apply_filter(current: ClientFilter | None, args: argparse.Namespace) -> ClientFilter | None:
    op, kind, flags, targets = args.filter_operation, args.filter_type, args.filter_flags, args.filter_targets
    if op == "none":
        if kind or flags is not None or targets is not None:
            raise CliError("--filter none removes the filter: give no other --filter-* option", EXIT_USAGE)
        return None
    if op is None and kind is None and flags is None and targets is None:
        return current
    if current is None and op is None:
        raise CliError("a new filter needs --filter Only or --filter Except", EXIT_USAGE)
    base = current or ClientFilter(operation=FilterOperation.ONLY)
    changes: dict[str, Any] = {}
    if op is not None:
        changes["operation"] = FilterOperation(op)
    if kind is not None:
        changes["kind"] = FilterKind(kind)
    if flags is not None:
        try:
            changes.update(parse_flags(flags, "--filter-flags"))
        except SubscriptionFileError as err:
            raise CliError(str(err), EXIT_USAGE) from err
    if targets is not None:
        changes["targets"] = tuple(dict.fromkeys(t.strip() for t in targets.split(",") if t.strip()))
    return dataclasses.replace(base, **changes)


# --- new / edit / duplicate ------------------------------------------------------------------


def cmd_new(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_writable("subscriptions new")
    query = _read_text(args.query)
    try:
        parse_query(query)
    except QueryError as err:
        raise CliError(f"{args.query}: {err}", EXIT_USAGE) from err
    if ctx.store.get_subscription(args.name) is not None:
        raise CliError(f"a subscription named {args.name!r} already exists")
    # As in OpenWEC, a subscription created from the command line starts disabled, without
    # outputs: nothing is offered to sources until it is complete and enabled on purpose.
    sub = Subscription(uuid=Subscription.new_uuid(), name=args.name, query=query, enabled=False)
    sub = _validate(_apply_options(sub, args), "new subscription")
    _apply(ctx, [sub])
    ctx.out.line(sub.uuid)
    ctx.out.note(
        f"created {sub.name} (disabled): add an output with `wec subscriptions edit {sub.name} outputs add`, "
        f"then `wec subscriptions enable {sub.name}`"
    )
    return 0


def cmd_edit(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_writable("subscriptions edit")
    sub = ctx.subscription(args.subscription)
    if getattr(args, "edit_command", None) == "outputs":
        new = _edit_outputs(sub, args)
    else:
        new = _apply_options(sub, args)
        if args.name is not None:
            new = dataclasses.replace(new, name=args.name)
        if args.query is not None:
            query = _read_text(args.query)
            try:
                parse_query(query)
            except QueryError as err:
                raise CliError(f"{args.query}: {err}", EXIT_USAGE) from err
            new = dataclasses.replace(new, query=query)
        if args.revision is not None:
            new = dataclasses.replace(new, revision=args.revision or None)
    new = _validate(new, f"subscription {sub.name}")
    if new == sub:
        ctx.out.note("nothing to change")
        return 0
    _apply(ctx, [new])
    return 0


def _output_index(sub: Subscription, index: int) -> int:
    if not 1 <= index <= len(sub.outputs):
        raise CliError(f"{sub.name} has {len(sub.outputs)} output(s): no output #{index}", EXIT_USAGE)
    return index - 1


def _edit_outputs(sub: Subscription, args: argparse.Namespace) -> Subscription:
    outputs = list(sub.outputs)
    action = args.outputs_command
    if action == "add":
        config: dict[str, Any] = {}
        if args.output_config is not None:
            try:
                loaded = orjson.loads(args.output_config)
            except orjson.JSONDecodeError as err:
                raise CliError(f"--config is not JSON: {err}", EXIT_USAGE) from err
            if not isinstance(loaded, dict):
                raise CliError("--config must be a JSON object", EXIT_USAGE)
            config.update(loaded)
        for item in args.set or []:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CliError(f"--set {item!r}: expected KEY=VALUE", EXIT_USAGE)
            config[key] = _scalar(value)
        outputs.append(OutputConfig(args.driver, args.output_format, config, not args.disabled))
    elif action == "delete":
        outputs.pop(_output_index(sub, args.index))
    else:
        i = _output_index(sub, args.index)
        outputs[i] = dataclasses.replace(outputs[i], enabled=action == "enable")
    return dataclasses.replace(sub, outputs=tuple(outputs))


def _scalar(text: str) -> Any:
    """``--set port=514`` is an integer, ``--set tls_enabled=true`` a boolean, else a string."""
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        return text


def cmd_duplicate(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_writable("subscriptions duplicate")
    sub = ctx.subscription(args.subscription)
    if ctx.store.get_subscription(args.name) is not None:
        raise CliError(f"a subscription named {args.name!r} already exists")
    copy = dataclasses.replace(sub, uuid=Subscription.new_uuid(), name=args.name, enabled=False)
    _apply(ctx, [copy])
    ctx.out.line(copy.uuid)
    ctx.out.note(
        f"{copy.name} is a disabled copy of {sub.name} without bookmarks: `wec bookmarks copy` "
        f"them if sources should resume where they are, then `wec subscriptions enable {copy.name}`"
    )
    return 0


# --- enable / disable / delete / reload --------------------------------------------------------


def _set_enabled(ctx: Context, args: argparse.Namespace, enabled: bool) -> int:
    ctx.require_writable(f"subscriptions {'enable' if enabled else 'disable'}")
    subs = ctx.subscriptions(args.subscriptions, args.all)
    changed = [dataclasses.replace(s, enabled=enabled) for s in subs if s.enabled != enabled]
    for s in subs:
        if s.enabled == enabled:
            ctx.out.note(f"{s.name} is already {'enabled' if enabled else 'disabled'}")
        elif enabled and not any(o.enabled for o in s.outputs):
            ctx.out.warn(f"{s.name} has no enabled output: it is not offered to sources until it has one")
    if changed:
        _apply(ctx, changed)
    return 0


def cmd_enable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args, True)


def cmd_disable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args, False)


def cmd_delete(ctx: Context, args: argparse.Namespace) -> int:
    ctx.require_writable("subscriptions delete")
    subs = ctx.subscriptions(args.subscriptions, args.all)
    for s in subs:
        count = len(ctx.store.list_bookmarks(sub_uuid=s.uuid))
        ctx.out.note(f"- delete {s.name} ({s.uuid}) with the bookmarks of {count} source(s)")
    if not subs:
        ctx.out.note("no subscription")
        return 0
    if not ctx.confirm(f"delete {len(subs)} subscription(s)?", args.yes):
        raise CliError("nothing changed")
    for s in subs:
        ctx.store.delete_subscription(s.uuid)
    ctx.out.note(f"deleted {len(subs)} subscription(s)")
    return 0


def cmd_reload(ctx: Context, args: argparse.Namespace) -> int:
    # Allowed with read_only_subscriptions: it changes no subscription, only asks servers to
    # rebuild outputs (e.g. after a Kafka broker or a TLS certificate changed).
    subs = ctx.subscriptions(args.subscriptions, args.all)
    for s in subs:
        ctx.store.request_reload(s.uuid)
    interval = ctx.settings.server.db_sync_interval if ctx.settings is not None else 5
    ctx.out.note(
        f"reload requested for {len(subs)} subscription(s): running servers rebuild their outputs "
        f"within {interval:g} s"
    )
    return 0


# --- export / import ----------------------------------------------------------------------------


def _write_out(ctx: Context, data: bytes, output: str | None) -> None:
    if output is None or output == "-":
        if ctx.out.stdout is sys.stdout and hasattr(sys.stdout, "buffer"):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            # A text stream (tests, wrappers): UTF-16 exports are written as decoded text.
            text = data.decode("utf-16") if data.startswith(b"\xff\xfe") else data.decode("utf-8")
            ctx.out.raw(text)
        return
    try:
        Path(output).write_bytes(data)
    except OSError as err:
        raise CliError(f"cannot write {output}: {err}") from err
    ctx.out.note(f"wrote {output}")


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    from wec.subscriptions.export import dump_json
    from wec.subscriptions.wecutil import WecutilError, dump_windows

    subs = ctx.store.list_subscriptions() if not args.subscriptions else [
        ctx.subscription(i) for i in args.subscriptions
    ]  # fmt: skip
    if args.format == "windows":
        if len(subs) != 1:
            raise CliError("--format windows exports exactly one subscription: name it", EXIT_USAGE)
        try:
            data, warnings = dump_windows(subs[0])
        except WecutilError as err:
            raise CliError(str(err)) from err
        for w in warnings:
            ctx.out.warn(w)
    elif args.format == "toml":
        if len(subs) != 1:
            raise CliError("--format toml exports exactly one subscription: name it", EXIT_USAGE)
        data = dump_subscription(subs[0]).encode()
    else:
        data = dump_json(subs)
    _write_out(ctx, data, args.output)
    return 0


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from wec.subscriptions.export import load_json
    from wec.subscriptions.wecutil import WecutilError, parse_windows

    if not args.print:
        ctx.require_writable("subscriptions import")
    try:
        data = sys.stdin.buffer.read() if args.path == "-" else Path(args.path).read_bytes()
    except OSError as err:
        raise CliError(f"cannot read {args.path}: {err}", EXIT_USAGE) from err
    if args.format == "windows":
        try:
            imported = parse_windows(data, uuid=args.uuid, source=args.path)
        except (WecutilError, ValueError) as err:
            raise CliError(str(err), EXIT_USAGE) from err
        for w in imported.warnings:
            ctx.out.warn(w)
        sub = imported.subscription
        if args.name:
            sub = dataclasses.replace(sub, name=args.name)
        subs = [sub]
        ctx.out.note(f"{sub.name}: imported without outputs; it is offered once it has an enabled output")
    else:
        if args.uuid or args.name:
            raise CliError("--uuid and --name apply to --format windows only", EXIT_USAGE)
        try:
            subs = load_json(data, source=args.path)
        except SubscriptionFileError as err:
            raise CliError(str(err), EXIT_USAGE) from err
    if args.print:
        for s in subs:
            ctx.out.raw(dump_subscription(s))
        return 0
    _apply(ctx, subs)
    return 0


# --- clients ----------------------------------------------------------------------------------


def cmd_clients(ctx: Context, args: argparse.Namespace) -> int:
    from wec.cli.machines import print_clients

    return print_clients(ctx, args)


# --- parser ------------------------------------------------------------------------------------


def _fmt(
    p: argparse.ArgumentParser, choices: tuple[str, ...] = ("text", "json"), *, verb: bool = True
) -> None:
    # A verb's option must not have a default of its own: argparse copies a sub-parser's
    # defaults over what the parent parsed, so `wec subscriptions -f json list` printed text.
    # The parent `subscriptions` parser holds the default.
    default = argparse.SUPPRESS if verb else "text"
    p.add_argument("-f", "--format", choices=choices, default=default, help="output format (default: text)")


def _targets(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("subscriptions", nargs="*", metavar="SUBSCRIPTION", help="uuid or name")
    p.add_argument("-a", "--all", action="store_true", help=f"{verb} every subscription")


def add_parsers(sub: Any) -> None:
    subs = sub.add_parser("subscriptions", help="manage subscriptions (default: list them)")
    subs.add_argument("-e", "--enabled", action="store_true", help="list only enabled ones")
    subs.add_argument("-d", "--disabled", action="store_true", help="list only disabled ones")
    _fmt(subs, verb=False)
    subs.set_defaults(func=cmd_list)
    ss = subs.add_subparsers(dest="sub_command", metavar="VERB")

    p = ss.add_parser("list", help="list subscriptions (the default)")
    p.add_argument("-e", "--enabled", action="store_true", default=argparse.SUPPRESS)
    p.add_argument("-d", "--disabled", action="store_true", default=argparse.SUPPRESS)
    _fmt(p)
    p.set_defaults(func=cmd_list)

    p = ss.add_parser("show", help="every option, the outputs and the query of one subscription")
    p.add_argument("subscription", help="uuid or name")
    _fmt(p, ("text", "json", "toml"))
    p.add_argument(
        "--show-secrets", action="store_true", help="print output passwords and credentials in clear"
    )
    p.set_defaults(func=cmd_show)

    p = ss.add_parser("skell", help="print a commented subscription file template")
    p.add_argument("-m", "--minimal", action="store_true", help="without the option comments")
    p.set_defaults(func=cmd_skell, no_settings=True)

    p = ss.add_parser("load", help="load subscription files (a file, or every *.toml of a directory)")
    p.add_argument("path")
    p.add_argument("-k", "--keep", action="store_true", help="keep subscriptions that are not in PATH")
    p.add_argument(
        "-y", "--yes", action="store_true",
        help="delete bookmarks or replay history without asking (required without a terminal)",
    )  # fmt: skip
    p.add_argument("-e", "--allow-empty", action="store_true", help="accept a PATH without subscriptions")
    p.add_argument("-r", "--revision", default=None, help="revision to record (e.g. a git commit)")
    p.set_defaults(func=cmd_load)

    p = ss.add_parser("new", help="create a subscription (disabled, without outputs)")
    p.add_argument("name")
    p.add_argument("query", help="file holding the <QueryList> ('-' = stdin)")
    _add_option_flags(p)
    p.set_defaults(func=cmd_new)

    p = ss.add_parser("edit", help="change options, the filter or the outputs of a subscription")
    p.add_argument("subscription", help="uuid or name")
    p.add_argument("--name", help="rename (sources re-subscribe)")
    p.add_argument("--query", metavar="FILE", help="new <QueryList> from FILE ('-' = stdin)")
    p.add_argument("--revision", help="revision reported to sources ('' = unset)")
    _add_option_flags(p)
    eo = p.add_subparsers(dest="edit_command", metavar="outputs")
    po = eo.add_parser("outputs", help="add, delete, enable or disable an output")
    oo = po.add_subparsers(dest="outputs_command", required=True, metavar="ACTION")
    add = oo.add_parser("add", help="add an output")
    add.add_argument(
        "-d", "--driver", required=True, type=_name_of(tuple(DRIVERS)), metavar="|".join(DRIVERS)
    )
    add.add_argument("-f", "--format", dest="output_format", required=True, type=_name_of(FORMAT_NAMES),
                     metavar="|".join(FORMAT_NAMES))  # fmt: skip
    add.add_argument(
        "--config",
        dest="output_config",
        help='driver configuration as JSON, e.g. \'{"path": "/var/log/wec/{ip}"}\'',
    )
    add.add_argument("--set", action="append", metavar="KEY=VALUE", help="one configuration key (repeatable)")
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    for action in ("delete", "enable", "disable"):
        x = oo.add_parser(action, help=f"{action} output #INDEX (as numbered by `show`)")
        x.add_argument("index", type=int)
    p.set_defaults(func=cmd_edit)

    p = ss.add_parser("duplicate", help="copy a subscription under a new name and uuid (disabled)")
    p.add_argument("subscription")
    p.add_argument("name")
    p.set_defaults(func=cmd_duplicate)

    p = ss.add_parser("export", help="write subscriptions as JSON (or one as Windows XML / a TOML file)")
    p.add_argument("subscriptions", nargs="*", metavar="SUBSCRIPTION", help="default: all")
    p.add_argument("-f", "--format", choices=("json", "openwec", "windows", "toml"), default="json")
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_export)

    p = ss.add_parser("import", help="import a JSON export or a Windows `wecutil gs /format:xml` file")
    p.add_argument("path", help="file ('-' = stdin)")
    p.add_argument("-f", "--format", choices=("json", "openwec", "windows"), default="json")
    p.add_argument("--uuid", help="windows: the uuid to give (default: a new one)")
    p.add_argument("--name", help="windows: the name to give (default: SubscriptionId)")
    p.add_argument("--print", action="store_true", help="print as subscription files instead of importing")
    p.set_defaults(func=cmd_import)

    p = ss.add_parser("delete", help="delete subscriptions with their bookmarks and heartbeats")
    _targets(p, "delete")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    for verb, func, text in (
        ("enable", cmd_enable, "offer subscriptions to sources"),
        ("disable", cmd_disable, "stop offering subscriptions (their endpoints answer 404)"),
        ("reload", cmd_reload, "make running servers rebuild the outputs of subscriptions"),
    ):
        p = ss.add_parser(verb, help=text)
        _targets(p, verb)
        p.set_defaults(func=func)

    for name in ("clients", "machines"):
        p = ss.add_parser(name, help="the sources of a subscription and their state")
        p.add_argument("subscription")
        state = p.add_mutually_exclusive_group()
        state.add_argument("-a", "--active", action="store_true", help="only sources that sent events")
        state.add_argument(
            "-l", "--alive", action="store_true", help="only sources that sent only heartbeats"
        )
        state.add_argument("-d", "--dead", action="store_true", help="only silent sources")
        p.add_argument("-i", "--interval", type=int, metavar="S", help="window (default: heartbeat_interval)")
        p.add_argument("--at", metavar="TIME", help="classify as of TIME (ISO 8601) instead of now")
        _fmt(p)
        p.set_defaults(func=cmd_clients)
