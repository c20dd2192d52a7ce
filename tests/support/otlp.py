"""A real OTLP/gRPC trace receiver on 127.0.0.1:0: what our processes export when OTEL_* points at it."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the exporting process's service.name
    span: Span


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.received: list[ReceivedSpan] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.received.extend(ReceivedSpan(attributes["service.name"], s) for s in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self, service: str, name: str) -> list[Span]:
        return [r.span for r in self.received if r.service == service and r.span.name == name]


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[OtlpReceiver, dict[str, str]]]:
    """The receiver and the OTEL_* variables that make a child process export to it (batches every 50 ms)."""
    receiver = OtlpReceiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield receiver, {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
    finally:
        await server.stop(0)
