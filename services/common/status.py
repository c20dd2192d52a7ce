"""Failures a client acts on by reason, not by message: a gRPC status with a google.rpc.ErrorInfo.

The detail travels in the standard `grpc-status-details-bin` trailer (grpcio-status builds
it), so grpcurl, any gRPC client and the gateway can read it. The gateway maps a few
reasons to their own HTTP status (`gateway/errors.py`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

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
