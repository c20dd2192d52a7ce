"""Fixtures both services' tests use."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.telemetry import MemoryTracing, Records, captured_logs


@pytest.fixture
def logs() -> Iterator[Records]:
    with captured_logs() as records:
        yield records


@pytest.fixture
def tracing() -> Iterator[MemoryTracing]:
    tracing = MemoryTracing()
    yield tracing
    tracing.provider.shutdown()
