# SPDX-License-Identifier: GPL-3.0-or-later
"""The threads that run output writes, with a bounded queue and cancellable jobs.

Why not :class:`concurrent.futures.ThreadPoolExecutor`: its queue has no bound, a cancelled
job keeps its arguments (a formatted batch) until a thread dequeues it, and its threads are
joined at interpreter exit, so one write stuck in the kernel (a hung NFS mount) would keep
wecd from ever exiting. Here:

* :meth:`OutputWorkers.submit` refuses at once (:class:`WorkersBusy`) when ``queue_size`` jobs
  already wait, instead of letting batches pile up in memory behind a hung output;
* a job whose future is cancelled (the batch's deadline passed before a thread took it)
  drops its function and arguments at once, so the batch is freed even while the job still
  sits in the queue;
* the threads are daemon threads: shutting down does not wait for a write that never returns.

A write that a thread already runs cannot be interrupted (Python has no way to); its result
is simply discarded by the caller, whose deadline has passed. How many such writes one output
may leave behind is bounded by the pipeline (docs/outputs.md, "Deadlines").
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["OutputWorkers", "WorkersBusy"]

log = logging.getLogger("wec.outputs.workers")

T = TypeVar("T")


class WorkersBusy(Exception):
    """The queue of output writes is full."""


class _Job:
    __slots__ = ("args", "fn", "future")

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.future = future
        self.fn: Callable[..., Any] | None = fn
        self.args = args

    def forget(self, _future: Future[Any] | None = None) -> None:
        # Called when the future is done or cancelled: nothing may keep the batch alive.
        self.fn = None
        self.args = ()


class OutputWorkers:
    """``threads`` daemon threads taking jobs from a queue of at most ``queue_size``."""

    def __init__(self, threads: int = 16, queue_size: int | None = None, name: str = "wec-output") -> None:
        if threads < 1:
            raise ValueError("OutputWorkers needs at least one thread")
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size or threads * 4)
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        self._closed = False
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; raises :class:`WorkersBusy` when the queue is full and
        RuntimeError once shut down."""
        if self._closed:
            raise RuntimeError("output workers are shut down")
        future: Future[T] = Future()
        job = _Job(future, fn, args)
        future.add_done_callback(job.forget)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise WorkersBusy(f"{self._queue.maxsize} output writes already queued") from None
        return future

    def queued(self) -> int:
        return self._queue.qsize()

    def shutdown(self) -> None:
        """Stop taking jobs; queued jobs are cancelled. Threads stuck in a write are left."""
        self._closed = True
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.future.cancel()
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:  # a thread will see _closed on its next job
                break

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._closed:
                if job is not None:
                    job.future.cancel()
                return
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while queued: its batch was already released
            fn, args = job.fn, job.args
            job.forget()
            try:
                assert fn is not None
                result = fn(*args)
            except BaseException as err:
                job.future.set_exception(err)
            else:
                job.future.set_result(result)
                del result
            finally:
                del fn, args, job  # do not keep the batch until the next job arrives
