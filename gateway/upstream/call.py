"""What goes into an upstream call besides the message, and what comes out."""
from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf.message import Message

from ..errors import GatewayError, from_rpc_error

if TYPE_CHECKING:
    from .rpc import Rpc

log = logging.getLogger(__name__)

Metadata = tuple[tuple[str, str], ...]
ResponseMetadata = list[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True)
class CallContext:
    """The per-request part of upstream calls, shared by every call one HTTP request makes.

    Built once per request by `transcode.headers.call_context` (allow-listed
    headers, the request id, the verified identity, the client's deadline).
    """

    metadata: Metadata
    user_id: str | None  # the verified JWT subject; None on public routes
    client_deadline: float | None  # monotonic time when the client's grpc-timeout runs out
    idempotency_key: bool  # the client sent one: a create may then be retried like an idempotent call


@dataclass(frozen=True, slots=True)
class Reply:
    message: Message
    metadata: ResponseMetadata  # header and trailer metadata
    endpoint: str | None  # the target that answered; None for a fallback
    fallback: str | None = None  # "cache" or "empty" when the contract's fallback answered
    fallback_cause: str | None = None  # then the gRPC status name of the failure it stands in for


def backend_error(error: grpc.aio.AioRpcError, retry_after_seconds: int) -> GatewayError:
    """A backend's status as the client gets it (`errors.py`), with Retry-After on UNAVAILABLE."""
    result = from_rpc_error(error)
    if result.code == grpc.StatusCode.UNAVAILABLE:
        result.headers.setdefault("Retry-After", str(retry_after_seconds))
    return result


def service_unavailable(service: str, why: str, retry_after_seconds: int) -> GatewayError:
    """503 for a failure the client need not know the details of (logged with `why`)."""
    log.info("upstream call failed", extra={"upstream_service": service, "reason": why})
    return GatewayError(grpc.StatusCode.UNAVAILABLE, "service unavailable",
                        headers={"Retry-After": str(retry_after_seconds)})


class CallObserver(Protocol):
    """What the upstream layer reports as it works (metrics implement it; `NO_OBSERVER` ignores it all)."""

    def tried(self, rpc: Rpc, endpoint: str, code: str, seconds: float) -> None: ...
    def stream_ended(self, rpc: Rpc, endpoint: str, code: str) -> None: ...
    def retried(self, rpc: Rpc) -> None: ...
    def breaker_changed(self, service: str, endpoint: str, state: str) -> None: ...
    def health_changed(self, service: str, endpoint: str, status: str) -> None: ...
    def endpoints_now(self, service: str, targets: Collection[str]) -> None:
        """The service's endpoints after a DNS answer or a retired endpoint's close: others' series may go."""
        ...


class _Unobserved:
    def tried(self, rpc: Rpc, endpoint: str, code: str, seconds: float) -> None:
        pass

    def stream_ended(self, rpc: Rpc, endpoint: str, code: str) -> None:
        pass

    def retried(self, rpc: Rpc) -> None:
        pass

    def breaker_changed(self, service: str, endpoint: str, state: str) -> None:
        pass

    def health_changed(self, service: str, endpoint: str, status: str) -> None:
        pass

    def endpoints_now(self, service: str, targets: Collection[str]) -> None:
        pass


NO_OBSERVER: CallObserver = _Unobserved()


class CallTracer(Protocol):
    """A client span around each try (observability/tracing.py implements it; `NO_TRACER` makes none)."""

    def start(self, rpc: Rpc, metadata: Metadata) -> tuple[Any, Metadata]:
        """The span of one try, and the call's metadata carrying its trace context."""
        ...

    def end(self, span: Any, code: grpc.StatusCode, details: str | None = None) -> None: ...


class _Untraced:
    def start(self, rpc: Rpc, metadata: Metadata) -> tuple[Any, Metadata]:
        return None, metadata

    def end(self, span: Any, code: grpc.StatusCode, details: str | None = None) -> None:
        pass


NO_TRACER: CallTracer = _Untraced()
