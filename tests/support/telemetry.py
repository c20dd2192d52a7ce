"""Observing a test's servers: spans in memory, a metrics scrape, log records with the request context."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from telemetry.logs import RequestContextFilter


class MemoryTracing:
    """A tracer provider whose finished spans stay in memory (exported at once: SimpleSpanProcessor)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    """Every sample the metrics port serves, by (name, labels)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    return samples_in(response.text)


def samples_in(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by (name, labels), read by prometheus_client's own parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly these labels; None when there is none."""
    return samples.get((name, frozenset(labels.items())))


def series_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample `name` in `text` whose labels include `labels`; None when none does."""
    found = [value for (sample_name, sample_labels), value in samples_in(text).items()
             if sample_name == name and labels.items() <= dict(sample_labels).items()]
    assert len(found) <= 1, f"{len(found)} {name} series have the labels {labels}"
    return found[0] if found else None


def counted(text: str, name: str, **labels: str) -> float:
    """`series_value`, 0 when no series has the labels (a counter never incremented has none)."""
    return series_value(text, name, **labels) or 0.0


class Records(logging.Handler):
    """Log records as the JSON formatter sees them: `request_id` and `trace_id` set by telemetry.logs' filter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestContextFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def find(self, message: str, **fields: object) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage() == message
                and all(getattr(r, k, None) == v for k, v in fields.items())]


@contextmanager
def captured_logs() -> Iterator[Records]:
    """Every record logged meanwhile, whatever the root logger's level was."""
    records = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(records)
        root.setLevel(level)
