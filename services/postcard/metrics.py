"""The postcard-service's own Prometheus series, beside the RPC series every service has.

- `postcard_tasks_accepted_total`: tasks created by CreatePostcard (a retry under the same
  idempotency key creates nothing and is not counted again). Service process.
- `postcard_worker_tasks_total{outcome}` and `postcard_worker_task_duration_seconds{outcome}`
  (from claim to stored result): the process whose workers did the work, the service for embedded
  workers, else the worker process. `outcome` is one of `OUTCOMES`.
- `postcard_queue_depth` and `postcard_queue_oldest_task_age_seconds`: read from the database at
  each scrape (one query over the queue, which holds only unfinished tasks), so they show a
  backlog whoever builds it up and even while no worker runs. Service process.
- `postcard_task_watches`: WatchTaskStatus streams waiting for a change of their task, and
  `postcard_task_watch_check_seconds` (histogram): one check of every watched task (one query,
  plus a read per changed task), with `postcard_task_watch_checked_tasks`, how many it covered.
  Service process.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.sqlite import Database

log = logging.getLogger(__name__)

OUTCOMES = (
    "completed",  # the postcard is stored
    "rejected",  # moderation refused the request; the task failed with its reason
    "failed",  # the generator broke; the task failed with a generic reason
    "discarded",  # the lease was lost (another worker has the task); the result was thrown away
    "error",  # storing the result failed; the task is retried when its lease expires
    "given_up",  # the task's attempts ran out (its workers died); it was failed when next claimed
)
# One query over the primary key of the watched tasks: well under a millisecond for a few, more for thousands.
WATCH_CHECK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
# Generation takes about a second here (GENERATOR__DELAY_SECONDS); a real AI workflow, minutes.
TASK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def tasks_accepted(registry: CollectorRegistry) -> Counter:
    return Counter("postcard_tasks_accepted", "Tasks created by CreatePostcard.", registry=registry)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.tasks = Counter(
            "postcard_worker_tasks", "Tasks a worker finished with, by outcome.", ["outcome"], registry=registry
        )
        self.duration = Histogram(
            "postcard_worker_task_duration_seconds", "From claiming a task to storing its result, by outcome.",
            ["outcome"], buckets=TASK_BUCKETS, registry=registry,
        )
        for outcome in OUTCOMES:  # every series exists from the start, so rate() sees the first one
            self.tasks.labels(outcome)

    def finished(self, outcome: str, seconds: float) -> None:
        self.tasks.labels(outcome).inc()
        self.duration.labels(outcome).observe(seconds)

    def given_up(self, count: int) -> None:
        self.tasks.labels("given_up").inc(count)


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.watches = Gauge(
            "postcard_task_watches", "WatchTaskStatus streams waiting for a change of their task.", registry=registry
        )
        self.checks = Histogram(
            "postcard_task_watch_check_seconds", "One check of every watched task (one query, plus a read per change).",
            buckets=WATCH_CHECK_BUCKETS, registry=registry,
        )
        self.checked = Gauge(
            "postcard_task_watch_checked_tasks", "Tasks covered by the last check of watched tasks.", registry=registry
        )

    def count_watches(self, active: Callable[[], int]) -> None:
        """Read the number of watches from `active` at each scrape."""
        self.watches.set_function(active)

    def checked_tasks(self, seconds: float, tasks: int) -> None:
        self.checks.observe(seconds)
        self.checked.set(tasks)


class QueueCollector(Collector):
    """Queue depth and the oldest unfinished task's age, read when scraped (in the scrape's thread)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def describe(self) -> list[Metric]:
        return list(self._families(0, 0.0))

    def collect(self) -> Iterator[Metric]:
        try:
            with self._db.transaction() as conn:
                depth, oldest = conn.execute("SELECT COUNT(*), MIN(enqueued_at) FROM queue").fetchone()
        except sqlite3.Error:
            # The rest of the scrape is still worth having; these two series are missing from it.
            log.exception("reading the queue for metrics failed")
            return iter(())
        return self._families(depth, max(0.0, self._clock() - oldest) if oldest is not None else 0.0)

    @staticmethod
    def _families(depth: int, age: float) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "postcard_queue_depth", "Tasks accepted and not finished yet (waiting or being generated).", value=depth
        )
        yield GaugeMetricFamily(
            "postcard_queue_oldest_task_age_seconds", "Age of the oldest unfinished task; 0 when there is none.",
            value=age,
        )
