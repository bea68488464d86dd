# SPDX-License-Identifier: GPL-3.0-or-later
"""The driver × format pipeline and its one verdict per batch (docs/design.md §5.1:
Ack only when every output accepted the batch; any failure → 503 and the batch comes back)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.formats.factory import META, event_xml, system_xml
from wec.cpu_gate import cpu_gate
from wec.formats import get_format
from wec.formats.base import EventMeta, Format
from wec.formats.event_xml import ParsedEvent
from wec.model import OutputConfig
from wec.outputs.base import OutputBatch, OutputError
from wec.outputs.context import DriverContext
from wec.outputs.handles import FileHandles
from wec.outputs.pipeline import DeliveryFailed, OutputRuntime, Pipeline, build_pipeline
from wec.outputs.workers import OutputWorkers

WAIT = 10.0


class RecordingDriver:
    """A test double of the Driver interface: records what it received and on which thread."""

    def __init__(
        self,
        *,
        fail: BaseException | None = None,
        barrier: threading.Barrier | None = None,
        block: threading.Event | None = None,
    ) -> None:
        self.batches: list[OutputBatch] = []
        self.threads: list[int] = []
        self.fail = fail
        self.barrier = barrier
        self.block = block
        self.reopened = 0
        self.closed = 0

    def write(self, batch: OutputBatch) -> None:
        self.threads.append(threading.get_ident())
        if self.barrier is not None:
            # Every output must be inside write() at once: only concurrent writes pass.
            self.barrier.wait(WAIT)
        if self.block is not None:
            self.block.wait(WAIT)
        if self.fail is not None:
            raise self.fail
        self.batches.append(batch)

    def reopen(self) -> None:
        self.reopened += 1

    def close(self) -> None:
        self.closed += 1


class CountingFormat:
    """A Format test double that counts its calls."""

    needs_parse = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.lock = threading.Lock()

    def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
        with self.lock:
            self.calls += 1
        return f"{self.name}:{raw}".encode()


def runtime(index: int, driver: RecordingDriver, fmt: Format, name: str = "Mem") -> OutputRuntime:
    return OutputRuntime(
        index=index, config=OutputConfig(name, fmt.name, {"path": f"/out/{index}"}), format=fmt, driver=driver
    )


@pytest.fixture
def executor() -> Iterator[OutputWorkers]:
    ex = OutputWorkers(8, name="wec-test-outputs")
    try:
        yield ex
    finally:
        ex.shutdown()


EVENTS = ["<Event>1</Event>", "<Event>2</Event>", "<Event>3</Event>"]


# --- formats ---------------------------------------------------------------------------------


def test_each_distinct_format_is_computed_once(executor: OutputWorkers) -> None:
    a, b = CountingFormat("A"), CountingFormat("B")
    drivers = [RecordingDriver() for _ in range(3)]
    pipeline = Pipeline(
        [runtime(0, drivers[0], a), runtime(1, drivers[1], a), runtime(2, drivers[2], b)], workers=executor
    )

    report = pipeline.deliver(EVENTS, META)

    assert a.calls == len(EVENTS)  # not 2 × len(EVENTS): two outputs share format A
    assert b.calls == len(EVENTS)
    assert report.events == len(EVENTS)
    expected_a = tuple(f"A:{e}".encode() for e in EVENTS)
    assert drivers[0].batches[0].records == expected_a
    assert drivers[1].batches[0].records == expected_a
    assert drivers[2].batches[0].records == tuple(f"B:{e}".encode() for e in EVENTS)
    assert all(d.batches[0].meta is META for d in drivers)


def test_formatting_holds_the_cpu_gate_and_writing_does_not(executor: OutputWorkers) -> None:
    # Formatting is computation (one batch at a time per process, wec.cpu_gate); a write may
    # wait for a receiver, and must not keep other requests from being parsed meanwhile.
    seen: dict[str, list[bool]] = {"format": [], "write": []}

    class GateFormat(CountingFormat):
        def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
            seen["format"].append(cpu_gate.locked())
            return super().format(raw, parsed, meta)

    class GateDriver(RecordingDriver):
        def write(self, batch: OutputBatch) -> None:
            seen["write"].append(cpu_gate.locked())
            super().write(batch)

    fmt = GateFormat("G")
    for workers in (executor, None):
        Pipeline([runtime(0, GateDriver(), fmt)], workers=workers).deliver(EVENTS, META)
    assert seen["format"] == [True] * 2 * len(EVENTS)
    assert seen["write"] == [False, False]
    assert not cpu_gate.locked()


def test_a_failing_format_does_not_leave_the_cpu_gate_held() -> None:
    class Broken(CountingFormat):
        def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
            raise KeyboardInterrupt  # not an Exception: format_batch lets it through

    with pytest.raises(KeyboardInterrupt):
        Pipeline([runtime(0, RecordingDriver(), Broken("B"))]).deliver(EVENTS, META)
    assert not cpu_gate.locked()


def test_an_event_a_format_cannot_serialise_is_dropped_from_that_format_only() -> None:
    class Picky(CountingFormat):
        def format(self, raw: str, parsed: ParsedEvent | None, meta: EventMeta) -> bytes | None:
            if "2" in raw:
                raise RuntimeError("cannot format this one")
            return super().format(raw, parsed, meta)

    picky, plain = Picky("Picky"), CountingFormat("Plain")
    d1, d2 = RecordingDriver(), RecordingDriver()

    report = Pipeline([runtime(0, d1, picky), runtime(1, d2, plain)]).deliver(EVENTS, META)

    assert report.format_failures == {"Picky": 1, "Plain": 0}
    assert len(d1.batches[0].records) == 2
    assert len(d2.batches[0].records) == 3


# --- concurrency -----------------------------------------------------------------------------


def test_several_outputs_are_written_concurrently(executor: OutputWorkers) -> None:
    barrier = threading.Barrier(3)
    fmt = CountingFormat("A")
    drivers = [RecordingDriver(barrier=barrier) for _ in range(3)]

    Pipeline([runtime(i, d, fmt) for i, d in enumerate(drivers)], workers=executor).deliver(EVENTS, META)

    # the barrier only opens when all three writes run at the same time
    assert all(len(d.batches) == 1 for d in drivers)
    assert len({d.threads[0] for d in drivers}) == 3
    assert threading.get_ident() not in {d.threads[0] for d in drivers}


def test_without_executor_outputs_are_written_in_order_on_the_calling_thread() -> None:
    fmt = CountingFormat("A")
    drivers = [RecordingDriver() for _ in range(2)]

    Pipeline([runtime(i, d, fmt) for i, d in enumerate(drivers)]).deliver(EVENTS, META)

    assert [d.threads for d in drivers] == [[threading.get_ident()], [threading.get_ident()]]


def test_a_single_output_is_written_on_an_output_thread_under_the_deadline(executor: OutputWorkers) -> None:
    # One output too: the request thread only waits (with a deadline), it never writes.
    driver = RecordingDriver()

    Pipeline([runtime(0, driver, CountingFormat("A"))], workers=executor).deliver(EVENTS, META)

    assert len(driver.batches) == 1
    assert driver.threads != [threading.get_ident()]


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrent", [True, False])
def test_one_failing_output_fails_the_batch_and_the_others_still_receive_it(
    executor: OutputWorkers, concurrent: bool
) -> None:
    fmt = CountingFormat("A")
    good1, bad, good2 = RecordingDriver(), RecordingDriver(fail=OutputError("disk full")), RecordingDriver()
    pipeline = Pipeline(
        [runtime(0, good1, fmt), runtime(1, bad, fmt, name="Broken"), runtime(2, good2, fmt)],
        workers=executor if concurrent else None,
    )

    with pytest.raises(DeliveryFailed) as info:
        pipeline.deliver(EVENTS, META)

    assert [label for label, _ in info.value.failures] == ["#1 Broken/A /out/1"]
    assert "#1 Broken/A /out/1: disk full" in str(info.value)
    assert isinstance(info.value.failures[0][1], OutputError)
    assert len(good1.batches) == 1 and len(good2.batches) == 1


def test_every_failing_output_is_named(executor: OutputWorkers) -> None:
    fmt = CountingFormat("A")
    pipeline = Pipeline(
        [
            runtime(0, RecordingDriver(fail=OutputError("refused")), fmt, name="Tcp"),
            runtime(1, RecordingDriver(), fmt),
            runtime(2, RecordingDriver(fail=OutputError("timeout")), fmt, name="Kafka"),
        ],
        workers=executor,
    )

    with pytest.raises(DeliveryFailed) as info:
        pipeline.deliver(EVENTS, META)

    assert sorted(label for label, _ in info.value.failures) == ["#0 Tcp/A /out/0", "#2 Kafka/A /out/2"]
    assert str(info.value).startswith("2 output(s) failed")


@pytest.mark.parametrize("concurrent", [True, False])
def test_unexpected_driver_exception_becomes_delivery_failed(
    executor: OutputWorkers, concurrent: bool, caplog: pytest.LogCaptureFixture
) -> None:
    fmt = CountingFormat("A")
    buggy, good = RecordingDriver(fail=KeyError("driver bug")), RecordingDriver()
    pipeline = Pipeline(
        [runtime(0, buggy, fmt), runtime(1, good, fmt)], workers=executor if concurrent else None
    )

    with pytest.raises(DeliveryFailed) as info:
        pipeline.deliver(EVENTS, META)

    assert isinstance(info.value.failures[0][1], KeyError)
    assert "unexpected error" in caplog.text
    assert len(good.batches) == 1


def test_unexpected_exception_of_a_single_output_becomes_delivery_failed() -> None:
    pipeline = Pipeline([runtime(0, RecordingDriver(fail=ZeroDivisionError("bug")), CountingFormat("A"))])

    with pytest.raises(DeliveryFailed, match="bug"):
        pipeline.deliver(EVENTS, META)


def test_a_hanging_output_times_out(executor: OutputWorkers) -> None:
    release = threading.Event()
    fmt = CountingFormat("A")
    hanging, good = RecordingDriver(block=release), RecordingDriver()
    pipeline = Pipeline(
        [runtime(0, hanging, fmt, name="Slow"), runtime(1, good, fmt)], workers=executor, timeout=0.3
    )

    try:
        with pytest.raises(DeliveryFailed) as info:
            pipeline.deliver(EVENTS, META)
    finally:
        release.set()  # let the background write finish so the executor can shut down

    [(label, err)] = info.value.failures
    assert label == "#0 Slow/A /out/0"
    assert isinstance(err, OutputError)
    assert "timed out" in str(err)
    assert len(good.batches) == 1


def test_no_enabled_output_fails_the_batch() -> None:
    with pytest.raises(DeliveryFailed, match="no enabled output"):
        Pipeline([]).deliver(EVENTS, META)


def test_build_pipeline_with_only_disabled_outputs_fails_every_batch(tmp_path: Path) -> None:
    outputs = [OutputConfig("Files", "Raw", {"path": str(tmp_path / "x")}, enabled=False)]

    pipeline = build_pipeline(outputs, lambda fmt: DriverContext(format_name=fmt))

    assert pipeline.outputs == []
    with pytest.raises(DeliveryFailed, match="no enabled output"):
        pipeline.deliver(EVENTS, META)
    assert not (tmp_path / "x").exists()


def test_reopen_and_close_reach_every_driver_even_if_one_fails() -> None:
    class Fragile(RecordingDriver):
        def reopen(self) -> None:
            raise OSError("cannot reopen")

        def close(self) -> None:
            raise OSError("cannot close")

    fmt = CountingFormat("A")
    fragile, normal = Fragile(), RecordingDriver()
    pipeline = Pipeline([runtime(0, fragile, fmt), runtime(1, normal, fmt)])

    pipeline.reopen()
    pipeline.close()

    assert normal.reopened == 1 and normal.closed == 1


# --- real drivers and formats ------------------------------------------------------------------


@pytest.fixture
def file_handles() -> Iterator[FileHandles]:
    handles = FileHandles()  # what wecd's Daemon puts in every DriverContext
    yield handles
    handles.close_all()


def test_build_pipeline_writes_real_files_in_raw_and_json(
    tmp_path: Path, executor: OutputWorkers, file_handles: FileHandles
) -> None:
    events = [event_xml(system=system_xml(record_id=str(n))) for n in (101, 102)]
    outputs = [
        OutputConfig("Files", "Raw", {"path": "raw/{ip}/{client}/messages"}),
        OutputConfig("Files", "Json", {"path": "json/{ip:2}/{client}.jsonl"}),
        OutputConfig("Files", "Json", {"path": str(tmp_path / "disabled")}, enabled=False),
    ]
    contexts: list[str] = []

    def context(fmt: str) -> DriverContext:
        contexts.append(fmt)
        return DriverContext(
            node_name="wec-a", format_name=fmt, base_dir=str(tmp_path), file_handles=file_handles
        )

    pipeline = build_pipeline(outputs, context, workers=executor)
    report = pipeline.deliver(events, META)
    pipeline.deliver(events[:1], META)

    assert contexts == ["Raw", "Json"]
    assert [o.index for o in pipeline.outputs] == [0, 1]
    assert report.events == 2 and report.format_failures == {"Raw": 0, "Json": 0}

    raw = (tmp_path / "raw" / "10.20.30.40" / "WS042@CORP.EXAMPLE" / "messages").read_bytes().split(b"\n")
    assert raw[-1] == b""
    assert len(raw) - 1 == 3  # one line per event, appended across batches
    assert raw[0] == get_format("Raw").format(events[0], None, META)
    assert b"<EventRecordID>101</EventRecordID>" in raw[0]
    assert b"<EventRecordID>102</EventRecordID>" in raw[1]

    lines = (tmp_path / "json" / "10.20" / "WS042@CORP.EXAMPLE.jsonl").read_text().splitlines()
    docs: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert len(docs) == 3
    assert [d["System"]["EventRecordID"] for d in docs] == [101, 102, 101]
    assert not (tmp_path / "disabled").exists()


def test_build_pipeline_rejects_a_misconfigured_output(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="filename"):
        build_pipeline(
            [OutputConfig("Files", "Raw", {"path": str(tmp_path), "filename": "x"})],
            lambda fmt: DriverContext(format_name=fmt),
        )
    with pytest.raises(ValueError, match="unknown format"):
        build_pipeline([OutputConfig("Files", "Yaml", {"path": str(tmp_path)})], lambda fmt: DriverContext())


def test_real_files_output_failure_fails_the_batch_and_recovers(
    tmp_path: Path, file_handles: FileHandles
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_bytes(b"")  # a regular file where the output wants a directory
    outputs = [
        OutputConfig("Files", "Raw", {"path": str(tmp_path / "ok" / "messages")}),
        OutputConfig("Files", "Raw", {"path": str(blocker / "messages")}),
    ]
    pipeline = build_pipeline(outputs, lambda fmt: DriverContext(format_name=fmt, file_handles=file_handles))
    events = [event_xml()]

    with pytest.raises(DeliveryFailed) as info:
        pipeline.deliver(events, META)
    assert [label for label, _ in info.value.failures] == [f"#1 Files/Raw {blocker / 'messages'}"]
    assert isinstance(info.value.failures[0][1], OutputError)
    assert isinstance(info.value.failures[0][1].__cause__, FileExistsError)

    blocker.unlink()
    pipeline.deliver(events, META)  # the batch arrives again and is accepted everywhere

    assert len((tmp_path / "ok" / "messages").read_bytes().splitlines()) == 2  # a duplicate, nothing lost
    assert len((blocker / "messages").read_bytes().splitlines()) == 1


def test_a_shut_down_executor_fails_the_batch_instead_of_raising() -> None:
    ex = OutputWorkers(2)
    ex.shutdown()
    fmt = CountingFormat("A")
    drivers = [RecordingDriver(), RecordingDriver()]
    pipeline = Pipeline([runtime(i, d, fmt) for i, d in enumerate(drivers)], workers=ex)

    with pytest.raises(DeliveryFailed) as info:
        pipeline.deliver(EVENTS, META)

    assert sorted(label for label, _ in info.value.failures) == ["#0 Mem/A /out/0", "#1 Mem/A /out/1"]
    assert all(isinstance(err, OutputError) for _, err in info.value.failures)


class _TrackedDriver(RecordingDriver):
    """Built through the registry so that build_pipeline's clean-up can be observed."""

    built: ClassVar[list[_TrackedDriver]] = []

    @classmethod
    def from_config(cls, config: dict[str, object], *, context: DriverContext) -> _TrackedDriver:
        driver = cls()
        cls.built.append(driver)
        return driver


def test_build_pipeline_closes_the_drivers_it_built_when_a_later_output_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Kafka producer or a Mongo client built for output #0 must not leak (threads, sockets)
    # when output #1 cannot be built: the service retries the build on every reload.
    from wec.outputs import registry

    monkeypatch.setitem(registry.DRIVERS, "Tracked", (__name__, "_TrackedDriver"))
    monkeypatch.setattr(_TrackedDriver, "built", [])
    with pytest.raises(ValueError, match="filename"):
        build_pipeline(
            [
                OutputConfig("Tracked", "Raw", {}),
                OutputConfig("Files", "Raw", {"path": str(tmp_path), "filename": "x"}),
            ],
            lambda fmt: DriverContext(format_name=fmt),
        )
    assert [d.closed for d in _TrackedDriver.built] == [1]


# --- deadlines, hung outputs (issue 13) ------------------------------------------------------


def test_a_hung_output_holds_at_most_max_abandoned_threads_then_refuses_at_once() -> None:
    release = threading.Event()
    workers = OutputWorkers(4, name="wec-test-hung")
    fmt = CountingFormat("A")
    hung = RecordingDriver(block=release)
    pipeline = Pipeline([runtime(0, hung, fmt, name="Hung")], workers=workers, timeout=0.2, max_abandoned=2)
    try:
        errors = []
        for _ in range(5):
            with pytest.raises(DeliveryFailed) as info:
                pipeline.deliver(EVENTS, META)
            errors.append(str(info.value))
        # two writes were started and abandoned at their deadline; the next three never ran
        assert len(hung.threads) == 2
        assert pipeline.outputs[0].abandoned == 2
        assert all("write deadline" in e for e in errors[:2])
        assert all("still hang" in e for e in errors[2:])
    finally:
        release.set()
    # once the hung writes return, the output is used again
    assert_eventually(lambda: pipeline.outputs[0].abandoned == 0)
    hung.block = None
    pipeline.deliver(EVENTS, META)
    workers.shutdown()


def assert_eventually(predicate: Any, timeout: float = WAIT) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached")


def test_a_job_cancelled_in_the_queue_releases_its_batch_at_once() -> None:
    import gc
    import weakref

    release = threading.Event()
    workers = OutputWorkers(1, queue_size=4, name="wec-test-cancel")
    try:
        blocker = workers.submit(release.wait, WAIT)

        class Batch:  # weak-referenceable stand-in for a formatted batch
            pass

        batch = Batch()
        ref = weakref.ref(batch)
        queued = workers.submit(lambda b: None, batch)
        del batch
        gc.collect()
        assert ref() is not None  # held by the queued job
        assert queued.cancel()
        gc.collect()
        assert ref() is None, "a cancelled job kept its batch alive in the queue"
    finally:
        release.set()
    assert blocker.result(WAIT) is True
    workers.shutdown()


def test_the_output_queue_is_bounded() -> None:
    from wec.outputs.workers import WorkersBusy

    release = threading.Event()
    workers = OutputWorkers(1, queue_size=2, name="wec-test-bound")
    try:
        running = workers.submit(release.wait, WAIT)
        assert_eventually(lambda: running.running())
        workers.submit(release.wait, WAIT)
        workers.submit(release.wait, WAIT)
        with pytest.raises(WorkersBusy):
            workers.submit(release.wait, WAIT)
    finally:
        release.set()
        workers.shutdown()


def test_a_full_output_queue_refuses_the_batch() -> None:
    release = threading.Event()
    workers = OutputWorkers(1, queue_size=1, name="wec-test-full")
    fmt = CountingFormat("A")
    try:
        running = workers.submit(release.wait, WAIT)
        assert_eventually(lambda: running.running())
        workers.submit(release.wait, WAIT)  # the queue (one place) is now full
        good = RecordingDriver()
        with pytest.raises(DeliveryFailed, match="already queued"):
            Pipeline([runtime(0, good, fmt)], workers=workers, timeout=5).deliver(EVENTS, META)
        assert good.batches == []
    finally:
        release.set()
        workers.shutdown()
