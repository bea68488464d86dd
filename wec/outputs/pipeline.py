# SPDX-License-Identifier: GPL-3.0-or-later
"""Fan one Events batch out to every output of its subscription and return one verdict.

An output is a driver (where) × a format (which bytes). For a batch, each distinct format is
computed once (and each event parsed at most once for all parsed formats); then every driver
receives its records, concurrently when there are several, and the pipeline waits for all of
them. The worst result wins (Vector's end-to-end acknowledgement): if any output failed, the
batch failed, and the collector answers 503 without Ack or bookmark so that the source sends
it again (docs/operations.md, "Delivery"). Outputs that succeeded then see duplicates;
nothing is lost.

Deadlines (docs/outputs.md). With :class:`~wec.outputs.workers.OutputWorkers`, every write
runs on an output thread, even when the subscription has a single output, and the request
waits for it at most ``timeout`` seconds (``outputs.write_timeout``): a receiver that stops
reading, or a file on a hung mount, costs the source a 503 after the deadline, never a
request thread for ever. A write past its deadline cannot be interrupted; it is abandoned
(its future cancelled if it had not started, its result discarded otherwise) and counted
against its output: an output with ``max_abandoned`` such writes still running refuses the
next batch at once, so a hung output holds a bounded number of threads and of batches in memory,
however often the sources resend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ALL_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from wec.cpu_gate import cpu_gate
from wec.formats.base import EventMeta, Format
from wec.model import OutputConfig
from wec.outputs.base import Driver, OutputBatch, OutputError
from wec.outputs.workers import OutputWorkers, WorkersBusy
from wec.sanitize import redact

__all__ = [
    "DEFAULT_MAX_ABANDONED",
    "DEFAULT_WRITE_TIMEOUT",
    "DeliveryFailed",
    "DeliveryReport",
    "OutputRuntime",
    "Pipeline",
    "build_pipeline",
]

DEFAULT_WRITE_TIMEOUT = 45.0  # seconds; outputs.write_timeout
DEFAULT_MAX_ABANDONED = 2  # writes past their deadline one output may leave running

log = logging.getLogger("wec.outputs.pipeline")


@dataclass
class OutputRuntime:
    """One live output: its configuration, its format and its driver."""

    index: int
    config: OutputConfig
    format: Format
    driver: Driver
    # Writes abandoned past their deadline that have not returned yet (they hold a thread
    # and their batch). In-time writes are not counted: their number is bounded by the
    # request threads a subscription may hold.
    abandoned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def abandon(self, future: Future[Any]) -> None:
        with self._lock:
            self.abandoned += 1
        future.add_done_callback(self._returned)  # runs at once if it returned meanwhile

    def _returned(self, _future: object) -> None:
        with self._lock:
            self.abandoned -= 1

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
    """The outputs of one subscription.

    Without ``workers`` (tests, tools), outputs are written in order on the calling thread and
    no deadline applies.
    """

    def __init__(
        self,
        outputs: list[OutputRuntime],
        workers: OutputWorkers | None = None,
        timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_abandoned: int = DEFAULT_MAX_ABANDONED,
    ) -> None:
        self.outputs = outputs
        self._workers = workers
        self.timeout = timeout
        self.max_abandoned = max_abandoned
        self._formats: dict[str, Format] = {}
        for o in outputs:
            self._formats.setdefault(o.format.name, o.format)

    def deliver(self, events: Sequence[str], meta: EventMeta) -> DeliveryReport:
        """Deliver to every output or raise :class:`DeliveryFailed`."""
        start = time.monotonic()
        if not self.outputs:
            raise DeliveryFailed([("(none)", OutputError("subscription has no enabled output"))])
        with cpu_gate:  # computation only; the writes below wait outside the gate
            batches, format_failures, parse_errors = _format_all(events, meta, self._formats)
        if self._workers is None:
            failed = [(o, err) for o in self.outputs if (err := _write_one(o, batches[o.format.name]))]
        else:
            failed = self._write_all(self._workers, batches, time.monotonic() + self.timeout)
        del batches  # an abandoned write keeps its own reference; this request keeps none
        if failed:
            raise DeliveryFailed([(o.label, err) for o, err in failed], [o.config.driver for o, _ in failed])
        return DeliveryReport(
            events=len(events),
            format_failures=format_failures,
            seconds=time.monotonic() - start,
            parse_errors=parse_errors,
        )

    def _write_all(
        self, workers: OutputWorkers, batches: dict[str, OutputBatch], deadline: float
    ) -> list[tuple[OutputRuntime, BaseException]]:
        failed: list[tuple[OutputRuntime, BaseException]] = []
        futures: dict[Future[BaseException | None], OutputRuntime] = {}
        for o in self.outputs:
            if o.abandoned >= self.max_abandoned:
                # Its earlier writes never returned (a hung receiver or mount): refuse now
                # rather than tie up one more thread and batch behind them.
                hung = OutputError(f"{o.abandoned} earlier write(s) past their deadline still hang")
                failed.append((o, hung))
                continue
            try:
                futures[workers.submit(_write_one, o, batches[o.format.name])] = o
            except (WorkersBusy, RuntimeError) as refused:
                # RuntimeError: shut down under an in-flight batch (stop timeout). Either way
                # the batch is refused (503), never a 500.
                failed.append((o, OutputError(f"not written: {refused}")))
        done, late = wait(futures, timeout=max(0.0, deadline - time.monotonic()), return_when=ALL_COMPLETED)
        for fut in done:
            err = fut.result()
            if err is not None:
                failed.append((futures[fut], err))
        for fut in late:
            # Not started: cancelled, its batch released now. Started: it goes on in the
            # background and its result is ignored; the source will send the batch again.
            o = futures[fut]
            if not fut.cancel():
                o.abandon(fut)
            log.warning("output %s: no answer within the %gs write deadline", o.label, self.timeout)
            failed.append((o, OutputError(f"timed out after {self.timeout:g}s (write deadline)")))
        return failed

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
    # The error travels on (DeliveryFailed, the 503's log line) without its traceback, whose
    # frames would keep the batch alive as long as the error is.
    try:
        o.driver.write(batch)
    except OutputError as err:
        return err.with_traceback(None)
    except Exception as err:  # a driver bug must fail the batch, not the server
        log.exception("output %s raised an unexpected error", o.label)
        return err.with_traceback(None)
    return None


def build_pipeline(
    outputs: Sequence[OutputConfig],
    context_factory: Any,
    workers: OutputWorkers | None = None,
    timeout: float = DEFAULT_WRITE_TIMEOUT,
    max_abandoned: int = DEFAULT_MAX_ABANDONED,
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
    return Pipeline(runtimes, workers=workers, timeout=timeout, max_abandoned=max_abandoned)
