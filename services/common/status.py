"""Failures a client acts on by their details, not by message: a gRPC status with a google.rpc.ErrorInfo,
or a google.rpc.BadRequest naming a field, as the contract's rules do (`contractrules`).

The details travel in the standard `grpc-status-details-bin` trailer (grpcio-status builds
it), so grpcurl, any gRPC client and the gateway can read them. The gateway maps a few
reasons to their own HTTP status (`gateway/errors.py`) and passes the details on.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from contractrules.violations import Violations

DOMAIN = "postcardapp"
# An idempotency key was already used by this caller for a request with a different body.
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


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
