"""The only code that runs the model while serving.

One worker thread takes jobs from a bounded queue, forms micro-batches (up to
``max_batch_size`` rows and at most ``EXTRACTOR_MAX_LOADED_ADAPTERS`` distinct adapters; it keeps
filling while requests keep arriving, ``batch_gap_ms`` apart at most, for up to ``max_batch_wait_ms``), lets the adapter registry load/evict/delete adapters between
two batches, runs one ``generate`` with one adapter per row, and resolves each job's asyncio
future. The event loop never blocks on the model.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from extractor_energy.adapters.identity import AdapterRef
from extractor_energy.adapters.registry import AdapterRegistry
from extractor_energy.engine.cancellation import StopRows
from extractor_energy.config import Settings
from extractor_energy.errors import InferenceFailed, ServerFull, ShuttingDown
from extractor_energy.engine.generate import BASE, GenerationInput, GenerationOutput, ProcessorFactory, generate_batch
from extractor_energy.metrics import Metrics
from extractor_energy.engine.model import LoadedModel

log = logging.getLogger(__name__)
_DEADLINE_SLACK_S = 1.0


@dataclass
class Job:
    input: GenerationInput
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    key: AdapterRef | str  # the request's adapter identity, as the service made it; errors and logs name its key
    enqueued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    cancelled: bool = False
    aborted: bool = False  # answered "shutting down" while running: its row stops too
    deadline: float = float("inf")  # monotonic time after which nobody waits for the answer

    def cancel(self) -> None:
        """Nobody waits any more (client gone or timed out): dropped if queued, stopped at the next step if generating."""
        self.cancelled = True

    def gone(self) -> bool:
        return self.cancelled or self.aborted or time.monotonic() > self.deadline

    def _resolve(self, result: Any = None, error: BaseException | None = None) -> None:
        def apply() -> None:
            if self.future.done():
                return
            if error is not None and self.cancelled:
                self.future.cancel()  # nobody awaits it: no "exception was never retrieved" noise
            elif error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(apply)
        except RuntimeError:  # loop already closed (shutdown): nobody is waiting
            pass


class Scheduler:
    def __init__(
        self,
        loaded: LoadedModel,
        registry: AdapterRegistry,
        settings: Settings,
        metrics: Metrics,
        extra_processors: ProcessorFactory | None = None,
    ) -> None:
        self.loaded = loaded
        self.registry = registry
        self.settings = settings
        self.metrics = metrics
        self.extra_processors = extra_processors
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=settings.max_queue_size)
        self._accepting = True
        self._draining = False  # shutdown began: no new admissions, admitted work goes on
        self._running: list[Job] = []
        self._held: deque[Job] = deque()  # taken from the queue but left for the next batch (adapter slots full)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference-worker", daemon=True)
        self.last_batch_ms = 0.0

    # ------------------------------------------------------------------ event-loop side
    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def accepting(self) -> bool:
        """False once shutdown has begun (new requests are refused; admitted ones go on)."""
        return self._accepting and not self._draining

    def begin_drain(self) -> None:
        """Shutdown begins: refuse new requests; queued and running ones continue."""
        self._draining = True

    def abort(self) -> None:
        """The grace period is over: answer every queued and running job "shutting down" now
        (their rows stop at the next generation step)."""
        self._accepting = False
        for job in list(self._running):
            job.aborted = True
            job._resolve(error=ShuttingDown("the server shut down before this request finished"))
        self._fail_queued()

    def _fail_queued(self) -> None:
        while self._held:
            self._held.popleft()._resolve(error=ShuttingDown("the server shut down before this request ran"))
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            job._resolve(error=ShuttingDown("the server shut down before this request ran"))

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's expected drain time (1..60)."""
        return self._retry_after()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def submit(self, gen_input: GenerationInput, key: AdapterRef | str) -> Job:
        """Queue a job now or raise :class:`~.errors.ServerFull` / :class:`~.errors.ShuttingDown` at once."""
        if not self._accepting:
            raise ShuttingDown("the server is shutting down")
        loop = asyncio.get_running_loop()
        job = Job(input=gen_input, future=loop.create_future(), loop=loop, key=key)
        # the service answers 504 at its own deadline and cancels the job; this one is the backstop
        job.deadline = job.enqueued_at + self.settings.request_timeout_s + _DEADLINE_SLACK_S
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            retry_after = self._retry_after()
            raise ServerFull(f"the server is at capacity; retry in {retry_after} s", retry_after) from None
        self.metrics.queue_depth.set(self._queue.qsize())
        return job

    def _retry_after(self) -> int:
        per_batch = max(self.last_batch_ms / 1000, 0.5)
        batches = self._queue.qsize() / max(self.settings.max_batch_size, 1)
        return max(1, min(60, round(per_batch * batches)))

    def stop(self, grace_s: float) -> None:
        """Stop accepting, finish queued jobs for up to ``grace_s``, fail the rest, stop the worker."""
        self._accepting = False
        deadline = time.monotonic() + grace_s
        while self._queue.qsize() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        for job in list(self._running):  # nobody will get these answers any more: stop their rows
            job.aborted = True
        joined = time.monotonic()
        self._thread.join(timeout=max(1.0, min(5.0, deadline - time.monotonic() + 1)))
        self._fail_queued()
        log.info("inference worker stopped (%.2f s)", time.monotonic() - joined)

    # ------------------------------------------------------------------ worker side
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._held.popleft() if self._held else self._queue.get(timeout=0.1)
            except queue.Empty:
                self._housekeeping()
                continue
            batch = self._collect(first)
            self.metrics.queue_depth.set(self._queue.qsize())
            if batch:
                self._run_batch(batch)

    def _housekeeping(self) -> None:
        try:
            self.registry.sync(set())
        except Exception:
            log.exception("adapter housekeeping failed")

    def _collect(self, first: Job) -> list[Job]:
        """``first`` and what arrives after it, up to the batch size: the batch closes when no job came
        for ``batch_gap_ms`` or ``max_batch_wait_ms`` after it opened (requests of concurrent clients
        arrive spread over tens of ms: a fixed short wait starts batches half full, a fixed long one
        delays a lone request). A job whose adapter would be one more than the slots hold waits for
        the next batch (in arrival order)."""
        jobs = [first]
        adapters = {first.input.adapter_name} - {BASE}
        held: list[Job] = []
        gap = min(self.settings.batch_gap_ms, self.settings.max_batch_wait_ms) / 1000
        cap = time.monotonic() + self.settings.max_batch_wait_ms / 1000
        fill_until = min(cap, time.monotonic() + gap)
        while len(jobs) < self.settings.max_batch_size and len(held) < self.settings.max_batch_size:
            if self._held:
                job = self._held.popleft()
            else:
                remaining = fill_until - time.monotonic()
                try:
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                fill_until = min(cap, time.monotonic() + gap)  # another arrival: one more gap, never past the cap
            name = job.input.adapter_name
            if name != BASE and name not in adapters and len(adapters) >= self.registry.max_loaded:
                held.append(job)
                continue
            if name != BASE:
                adapters.add(name)
            jobs.append(job)
        self._held.extendleft(reversed(held))
        return [job for job in jobs if not job.gone() and not job.future.done()]

    def _run_batch(self, jobs: list[Job]) -> None:
        needed = {j.input.adapter_name for j in jobs if j.input.adapter_name != BASE}
        try:
            failures = self.registry.sync(needed)
        except Exception as exc:
            log.exception("adapter sync failed")
            failures = {name: str(exc) for name in needed}
        runnable = []
        for job in jobs:
            if job.input.adapter_name in failures:
                job._resolve(error=InferenceFailed(f"adapter {job.key} could not be loaded: {failures[job.input.adapter_name]}"))
            else:
                runnable.append(job)
        if not runnable:
            return
        now = time.monotonic()
        for job in runnable:
            job.started_at = now
            self.metrics.queue_wait.observe(now - job.enqueued_at)
        self.metrics.batch_size.observe(len(runnable))
        self.metrics.adapters_per_batch.observe(len({j.input.adapter_name for j in runnable}))
        stopper = StopRows([job.gone for job in runnable], self.loaded.tokenizer.eos_token_id)
        try:
            self._running = runnable
            outputs = self._generate([j.input for j in runnable], stopper)
        except Exception as exc:
            if len(runnable) == 1:
                log.exception("generation failed for %s", runnable[0].key)
                runnable[0]._resolve(error=InferenceFailed("the model failed on this document (details are in the server log)"))
                return
            log.warning("batch of %d failed (%s); retrying one by one", len(runnable), exc)
            self._running = []
            for job in runnable:
                self._run_batch([job])
            return
        finally:
            self._running = []
        for row, (job, output) in enumerate(zip(runnable, outputs)):
            self.metrics.tokens.inc(output.tokens_generated)
            if row in stopper.stopped:  # cut short: nobody waits for it (or it is too late to answer)
                self.metrics.rows_stopped.inc()
                job._resolve(error=InferenceFailed("no answer within the request timeout"))
            else:
                job._resolve(result=output)

    def _generate(self, inputs: list[GenerationInput], stopper: StopRows | None = None) -> list[GenerationOutput]:
        started = time.perf_counter()

        def processors(batch: list[GenerationInput], max_new_tokens: int) -> list:
            extra = self.extra_processors(batch, max_new_tokens) if self.extra_processors else []
            return [*extra, stopper] if stopper is not None else extra  # last: overrides any constraint

        outputs = generate_batch(self.loaded, inputs, self.settings.max_new_tokens, processors)
        self.last_batch_ms = (time.perf_counter() - started) * 1000
        if outputs:
            self.metrics.preprocess.observe(outputs[0].preprocess_ms / 1000)
            self.metrics.generation.observe(outputs[0].generate_ms / 1000)
        return outputs
