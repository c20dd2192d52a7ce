"""OpenTelemetry from the standard OTEL_* variables, the same way in every process.

With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set and
`OTEL_SDK_DISABLED` not true: an SDK provider exporting spans over OTLP/gRPC in batches, its
service name from `OTEL_SERVICE_NAME` (else the program's own), sampling and the rest from the
SDK's own variables. Otherwise no provider at all: no span is made and nothing costs anything.
"""
from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def tracer_provider_from_env(default_service_name: str) -> TracerProvider | None:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours is only the default.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", default_service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), for log lines; None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
