# SPDX-License-Identifier: GPL-3.0-or-later
"""Fan one Events batch out to every output of its subscription and return one verdict.

An output is a driver (where) × a format (which bytes). For a batch, each distinct format is
computed once (and each event parsed at most once for all parsed formats); then every driver
receives its records, concurrently when there are several, and the pipeline waits for all of
them. The worst result wins (Vector's end-to-end acknowledgement): if any output failed, the
batch failed, and the collector answers 503 without Ack or bookmark so that the source sends
it again (DESIGN.md decision 1). Outputs that succeeded then see duplicates; nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from wec.formats.base import EventMeta, Format
from wec.model import OutputConfig
from wec.outputs.base import Driver, OutputBatch, OutputError
from wec.sanitize import redact

__all__ = ["DeliveryFailed", "DeliveryReport", "OutputRuntime", "Pipeline", "build_pipeline"]

log = logging.getLogger("wec.outputs.pipeline")


@dataclass
class OutputRuntime:
    """One live output: its configuration, its format and its driver."""

    index: int
    config: OutputConfig
    format: Format
    driver: Driver

    @property
    def label(self) -> str:
        target = (
            self.config.config.get("path")
            or self.config.config.get("host")
            or self.config.config.get("addr")
            or self.config.config.get("uri")
            or ""
        )
        # The label is logged on every failed batch: a connection string's password must not be.
        return f"#{self.index} {self.config.driver}/{self.config.format} {redact(str(target))}".rstrip()


class DeliveryFailed(Exception):
    """At least one output refused the batch."""

    def __init__(self, failures: list[tuple[str, BaseException]], drivers: list[str] | None = None) -> None:
        self.failures = failures
        self.drivers = drivers or []  # driver name of each failure (metric label)
        # Driver errors may quote the URL they failed on (with its credentials).
        text = "; ".join(f"{label}: {redact(str(err))}" for label, err in failures)
        super().__init__(f"{len(failures)} output(s) failed: {text}")


@dataclass
class DeliveryReport:
    events: int
    format_failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    parse_errors: dict[str, int] = field(default_factory=dict)  # by OpenWEC.Error type


def _format_all(
    events: Sequence[str], meta: EventMeta, formats: dict[str, Format]
) -> tuple[dict[str, OutputBatch], dict[str, int], dict[str, int]]:
    """Serialise the batch once per distinct format, parsing each event at most once."""
    from wec.formats import format_batch

    result = format_batch(events, meta, formats.values())
    batches = {
        name: OutputBatch(records=tuple(recs), meta=meta, raw=result.raw_for(name, events))
        for name, recs in result.records.items()
    }
    return batches, dict(result.failures), {str(k): v for k, v in result.parse_errors.items()}


class Pipeline:
    """The outputs of one subscription."""

    def __init__(
        self, outputs: list[OutputRuntime], executor: ThreadPoolExecutor | None = None, timeout: float = 120.0
    ) -> None:
        self.outputs = outputs
        self._executor = executor
        self.timeout = timeout
        self._formats: dict[str, Format] = {}
        for o in outputs:
            self._formats.setdefault(o.format.name, o.format)

    def deliver(self, events: Sequence[str], meta: EventMeta) -> DeliveryReport:
        """Deliver to every output or raise :class:`DeliveryFailed`."""
        start = time.monotonic()
        if not self.outputs:
            raise DeliveryFailed([("(none)", OutputError("subscription has no enabled output"))])
        batches, format_failures, parse_errors = _format_all(events, meta, self._formats)
        failed: list[tuple[OutputRuntime, BaseException]] = []
        if len(self.outputs) == 1 or self._executor is None:
            for o in self.outputs:
                err = _write_one(o, batches[o.format.name])
                if err is not None:
                    failed.append((o, err))
        else:
            futures: dict[Future[BaseException | None], OutputRuntime] = {}
            for o in self.outputs:
                try:
                    futures[self._executor.submit(_write_one, o, batches[o.format.name])] = o
                except RuntimeError as refused:
                    # The executor was shut down under an in-flight batch (stop timeout):
                    # refuse the batch (503), never let a RuntimeError escape as a 500.
                    failed.append((o, OutputError(f"not written: {refused}")))
            done, pending = wait(futures, timeout=self.timeout, return_when=ALL_COMPLETED)
            for fut in done:
                err = fut.result()
                if err is not None:
                    failed.append((futures[fut], err))
            for fut in pending:
                # The write goes on in the background; the batch is refused and will come back.
                failed.append((futures[fut], OutputError(f"timed out after {self.timeout}s")))
        if failed:
            raise DeliveryFailed([(o.label, err) for o, err in failed], [o.config.driver for o, _ in failed])
        return DeliveryReport(
            events=len(events),
            format_failures=format_failures,
            seconds=time.monotonic() - start,
            parse_errors=parse_errors,
        )

    def reopen(self) -> None:
        for o in self.outputs:
            try:
                o.driver.reopen()
            except Exception:
                log.exception("output %s: reopen failed", o.label)

    def close(self) -> None:
        for o in self.outputs:
            try:
                o.driver.close()
            except Exception:
                log.exception("output %s: close failed", o.label)


def _write_one(o: OutputRuntime, batch: OutputBatch) -> BaseException | None:
    try:
        o.driver.write(batch)
    except OutputError as err:
        return err
    except Exception as err:  # a driver bug must fail the batch, not the server
        log.exception("output %s raised an unexpected error", o.label)
        return err
    return None


def build_pipeline(
    outputs: Sequence[OutputConfig], context_factory: Any, executor: ThreadPoolExecutor | None = None
) -> Pipeline:
    """Build the drivers of the enabled outputs. ``context_factory(format_name)`` gives the
    DriverContext. Raises ValueError when an output is misconfigured."""
    from wec.formats import get_format
    from wec.outputs.registry import build_driver

    runtimes: list[OutputRuntime] = []
    try:
        for i, oc in enumerate(outputs):
            if not oc.enabled:
                continue
            fmt = get_format(oc.format)
            driver = build_driver(oc.driver, dict(oc.config), context_factory(oc.format))
            runtimes.append(OutputRuntime(index=i, config=oc, format=fmt, driver=driver))
    except BaseException:
        # The drivers built so far own producers, clients and sockets: release them, since
        # the caller gets no pipeline to close (and retries the build on every reload).
        Pipeline(runtimes).close()
        raise
    return Pipeline(runtimes, executor=executor)
