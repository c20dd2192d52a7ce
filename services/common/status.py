"""Failures a client acts on by their details, not by message: a gRPC status with a google.rpc.ErrorInfo,
or a google.rpc.BadRequest naming a field, as the contract's rules do (`contractrules`).

The details travel in the standard `grpc-status-details-bin` trailer (grpcio-status builds
it), so grpcurl, any gRPC client and the gateway can read them. The gateway maps a few
reasons to their own HTTP status (`gateway/errors.py`) and passes the details on.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from contractrules.violations import Violations

DOMAIN = "postcardapp"
# An idempotency key was already used by this caller for a request with a different body.
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Work refused for now (admission control): which quota, what to tell people, when to come back."""

    reason: str  # ErrorInfo reason, e.g. TOO_MANY_UNFINISHED_TASKS
    subject: str  # QuotaFailure subject: whose quota, e.g. "user:<id>"
    message: str
    retry_after_seconds: float
    metadata: Mapping[str, str] = field(default_factory=dict)


async def abort_with_reason(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
) -> NoReturn:
    """End the RPC with `code` and `message`, plus an ErrorInfo(reason, DOMAIN, metadata) detail."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=dict(metadata or {})))
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    await context.abort_with_status(rpc_status.to_status(status))  # type: ignore[attr-defined]  # grpc-stubs lags
    raise AssertionError("unreachable: abort_with_status raises")  # for type checkers and readers


async def abort_invalid_field(
    context: grpc.aio.ServicerContext[Any, Any], field: str, description: str, reason: str
) -> NoReturn:
    """INVALID_ARGUMENT for a field that keeps its declared rules but is still wrong (a page token not issued
    to the caller), in the shape of a broken rule: "field: description" and a BadRequest field violation."""
    violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=description, reason=reason)
    status = Violations(error_details_pb2.BadRequest(field_violations=[violation])).status()
    await context.abort_with_status(rpc_status.to_status(status))  # type: ignore[attr-defined]  # grpc-stubs lags
    raise AssertionError("unreachable: abort_with_status raises")


async def abort_refused(context: grpc.aio.ServicerContext[Any, Any], refusal: Refusal) -> NoReturn:
    """RESOURCE_EXHAUSTED with a google.rpc.RetryInfo (when to try again), a QuotaFailure (whose quota) and an
    ErrorInfo (which one). The details mark it as a deliberate refusal of a live service: the gateway answers
    429 with Retry-After, and does not count it against the endpoint (no breaker, fallback or retry)."""
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromNanoseconds(round(refusal.retry_after_seconds * 1e9))
    quota = error_details_pb2.QuotaFailure(
        violations=[error_details_pb2.QuotaFailure.Violation(subject=refusal.subject, description=refusal.message)]
    )
    info = error_details_pb2.ErrorInfo(reason=refusal.reason, domain=DOMAIN, metadata=dict(refusal.metadata))
    details = []
    for detail in (retry, quota, info):
        packed = any_pb2.Any()
        packed.Pack(detail)
        details.append(packed)
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    status = status_pb2.Status(code=code.value[0], message=refusal.message, details=details)
    await context.abort_with_status(rpc_status.to_status(status))  # type: ignore[attr-defined]  # grpc-stubs lags
    raise AssertionError("unreachable: abort_with_status raises")
