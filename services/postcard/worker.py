"""Queue workers: claim a task, generate it while renewing the lease, complete or fail it.

A `WorkerPool` runs `count` workers as asyncio tasks, embedded in the service
process or in `worker_main`, over the `TaskQueue` that `settings.queue.backend`
chooses (`services.postcard.taskqueue`: SQLite leases or a Redis consumer
group). Each worker handles one task at a time:

1. claim the next task (idle: the SQLite queue answers at once and the worker
   waits `poll_interval` or a `notify()`; the Redis queue itself waits up to
   `poll_interval` for a new entry);
2. run the generator as a task and renew the lease every `lease_seconds / 3`
   while it runs, so a live worker never loses its lease however long
   generation takes; a dead worker stops renewing and its lease expires;
3. store the result with a fenced `complete`, or a fenced `fail` with the
   moderation reason, or a generic reason for an unexpected generator error
   (details only in the log). If the lease was lost (a renewal or the final
   write finds another worker holds the task), the result is discarded.

A claim that fails (the database locked, Redis down) is logged and tried again
after a back-off that doubles from `poll_interval` up to `MAX_BACKOFF_SECONDS`.

Stop: no new claims; an in-flight task gets `grace` seconds to finish, then it
is cancelled and its message released (returned to the queue at once, without
using an attempt); then the queue is closed.

While a worker handles a task, the request id of the create call that queued it
is bound (every log line carries it) and, with a tracer provider, a consumer
span is current, linked to the create call's span (a link, not a parent: the
work happens later, maybe in another process). Each task ends with one outcome
in `WorkerMetrics`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from prometheus_client import CollectorRegistry

from services.common.backoff import Backoff, error_text, pause
from services.common.sqlite import Database
from services.common.tracing import links_to
from services.postcard.artwork import Artwork, image_url
from services.postcard.generator import ContentRejected, PostcardGenerator
from services.postcard.metrics import WorkerMetrics
from services.postcard.redisqueue import RedisTaskQueue
from services.postcard.settings import PostcardServiceSettings
from services.postcard.sqlitequeue import SqliteTaskQueue
from services.postcard.stream import async_client
from services.postcard.taskqueue import Claim, TaskQueue
from telemetry.context import bind_request_id, unbind_request_id

log = logging.getLogger(__name__)

INTERNAL_FAILURE_REASON = "generation failed: internal error"
MAX_BACKOFF_SECONDS = 5.0
# Beyond the blocking read's own wait, how long a Redis reply may take.
REDIS_REPLY_SECONDS = 5.0


def create_worker_pool(
    settings: PostcardServiceSettings,
    db: Database,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
) -> WorkerPool:
    """The workers described by `settings.worker` over `db` and the queue of `settings.queue` (embedded in
    the service, or in worker_main). The pool owns that queue and closes it when it stops.

    Their metrics go to `registry` (a private one when None); `tracer_provider` turns their spans on.
    Raises `ConfigError` for a Redis URL that cannot be one (no connection is made here).
    """
    metrics = WorkerMetrics(registry or CollectorRegistry())
    return WorkerPool(
        create_task_queue(settings, db, metrics),
        PostcardGenerator(settings.generator),
        count=settings.worker.count,
        poll_interval=settings.worker.poll_interval_seconds,
        metrics=metrics,
        tracer=tracer_provider.get_tracer(__name__) if tracer_provider is not None else None,
    )


def create_task_queue(settings: PostcardServiceSettings, db: Database, metrics: WorkerMetrics) -> TaskQueue:
    """The queue of `settings.queue.backend`, with the timings of `settings.worker`."""
    worker = settings.worker
    if settings.queue.backend == "redis":
        return RedisTaskQueue(
            async_client(settings.queue, read_timeout=worker.poll_interval_seconds + REDIS_REPLY_SECONDS),
            db,
            stream=settings.queue.stream,
            group=settings.queue.group,
            lease_seconds=worker.lease_seconds,
            poll_interval=worker.poll_interval_seconds,
            max_attempts=worker.max_attempts,
            on_give_up=metrics.given_up,
            on_skip=metrics.entry_skipped,
        )
    return SqliteTaskQueue(
        db, lease_seconds=worker.lease_seconds, max_attempts=worker.max_attempts, on_give_up=metrics.given_up
    )


class WorkerPool:
    """`count` concurrent workers over one queue and generator."""

    def __init__(
        self,
        queue: TaskQueue,
        generator: PostcardGenerator,
        count: int,
        poll_interval: float,
        metrics: WorkerMetrics,
        tracer: Tracer | None = None,
    ) -> None:
        self._queue = queue
        self._generator = generator
        self._count = count
        self._poll_interval = poll_interval
        self._metrics = metrics
        self._tracer = tracer
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # host:pid:random identifies the process in lease_owner (useful when debugging a stuck lease).
        self._owner_prefix = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def start(self) -> None:
        """Start the workers (idempotent)."""
        if self._tasks:
            return
        for index in range(self._count):
            name = f"{self._owner_prefix}:{index}"
            self._tasks.append(asyncio.create_task(self._run(name), name=f"postcard-worker-{index}"))
        log.info("workers started", extra={"workers": self._count, "owner_prefix": self._owner_prefix})

    def notify(self) -> None:
        """Wake idle workers now (a task was just created) instead of at their next poll."""
        self._wake.set()

    async def stop(self, grace: float) -> None:
        """Stop claiming; give in-flight tasks `grace` seconds, then cancel and release them; close the queue."""
        self._stopping.set()
        self._wake.set()
        try:
            if self._tasks:
                _, pending = await asyncio.wait(self._tasks, timeout=grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._tasks.clear()
                log.info("workers stopped", extra={"cancelled_after_grace": len(pending)})
        finally:
            await self._queue.close()

    async def _run(self, owner: str) -> None:
        backoff = Backoff(self._poll_interval, MAX_BACKOFF_SECONDS)
        while not self._stopping.is_set():
            # Cleared before claiming, so a notify() that arrives during the claim is not lost.
            self._wake.clear()
            try:
                claim = await self._claim(owner)
            except Exception as error:
                # A locked or unavailable database, Redis down: must not kill the worker. Log, back off, retry.
                delay = backoff.failed()
                log.warning("claiming a task failed", exc_info=backoff.failures == 1,
                            extra={"worker": owner, "error": error_text(error), "failures": backoff.failures,
                                   "retry_in_seconds": delay})
                await self._idle(delay, self._stopping)  # only stopping cuts it short, not a notify()
                continue
            failures = backoff.succeeded()
            if failures:
                log.info("claiming works again", extra={"worker": owner, "failures": failures})
            if claim is None:
                if not self._queue.waits_for_work:
                    await self._idle(self._poll_interval, self._wake)
                continue
            await self._handle(owner, claim)

    async def _handle(self, owner: str, claim: Claim) -> None:
        """One task, observed: the create call's request id bound, the task's span current, its outcome counted."""
        token = bind_request_id(claim.origin.request_id)
        started = time.perf_counter()
        try:
            with self._span(claim) as span:
                try:
                    outcome = await self._process(owner, claim)
                except Exception:
                    # E.g. the database stayed locked past busy_timeout while storing the result. The
                    # worker lives on; the task's lease expires and another attempt picks it up.
                    log.exception("processing a task failed", extra={"worker": owner, "task_id": claim.task_id})
                    outcome = "error"
                if span is not None:
                    span.set_attribute("postcard.outcome", outcome)
                    if outcome in ("failed", "error"):
                        span.set_status(StatusCode.ERROR)
            self._metrics.finished(outcome, time.perf_counter() - started)
        finally:
            unbind_request_id(token)

    @contextlib.contextmanager
    def _span(self, claim: Claim) -> Iterator[Span | None]:
        """The task's consumer span, linked to the create call's; no span when tracing is off."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(
            "process postcard task",
            kind=SpanKind.CONSUMER,
            links=links_to(claim.origin.traceparent),
            attributes={"postcard.task_id": claim.task_id, "postcard.attempt": claim.attempts},
        ) as span:
            yield span

    async def _claim(self, owner: str) -> Claim | None:
        """Claim; if cancelled meanwhile, let the claim finish (it may already hold a task) and give it back."""
        pending = asyncio.ensure_future(self._queue.claim(owner))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                claim = await pending
                if claim is not None:
                    await self._queue.release(claim)
            raise

    async def _idle(self, seconds: float, until: asyncio.Event) -> None:
        """Wait `seconds`, or less once `until` is set (`_wake`: a `notify()` or stopping; `_stopping`)."""
        if not self._stopping.is_set():
            await pause(seconds, until)

    async def _process(self, owner: str, claim: Claim) -> str:
        """Generate and store the task; its outcome (`metrics.OUTCOMES`). Cancelled: released, re-raised."""
        fields: dict[str, object] = {"worker": owner, "task_id": claim.task_id, "attempt": claim.attempts}
        log.info("task claimed", extra=fields)
        postcard_id = str(uuid.uuid4())
        job = asyncio.create_task(self._generator.generate(claim.request, image_url(postcard_id)))
        try:
            held = await self._renew_until_done(job, claim)
        except asyncio.CancelledError:
            # Stopping: abandon cleanly so another worker can take the task at once.
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
            try:
                await self._queue.release(claim)
                log.info("task released on stop", extra=fields)
            except Exception:
                # Not fatal: the lease expires and another worker takes the task (using an attempt).
                log.exception("releasing a task failed", extra=fields)
            raise
        if not held:
            log.warning("lease lost while generating; result discarded", extra=fields)
            return "discarded"
        try:
            artwork = job.result()
        except ContentRejected as rejected:
            stored = await self._queue.fail(claim, str(rejected))
            outcome, message = "rejected", "task rejected by moderation"
        except Exception:
            log.exception("generator failed", extra=fields)
            stored = await self._queue.fail(claim, INTERNAL_FAILURE_REASON)
            outcome, message = "failed", "task failed"
        else:
            stored = await self._queue.complete(claim, postcard_id, artwork)
            outcome, message = "completed", "task completed"
            fields["postcard_id"] = postcard_id
        if not stored:
            log.warning("lease lost before storing the result; result discarded", extra=fields)
            return "discarded"
        log.info(message, extra=fields)
        return outcome

    async def _renew_until_done(self, job: asyncio.Task[Artwork], claim: Claim) -> bool:
        """Wait for `job`, renewing the lease meanwhile; False (job cancelled) once the lease is lost."""
        interval = self._queue.lease_seconds / 3
        while True:
            done, _ = await asyncio.wait({job}, timeout=interval)
            if done:
                return True
            try:
                renewed = await self._queue.renew(claim)
            except Exception:
                # A transient database or Redis error: keep working; the lease has slack (3 renewals per lease).
                log.exception("renewing a lease failed", extra={"task_id": claim.task_id})
                continue
            if not renewed:
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                return False
