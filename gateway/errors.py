"""The one place a gRPC status becomes an HTTP status and the JSON error body.

Every failure, whether it comes from a backend (a gRPC status) or from the
gateway itself (no route, bad body, bad token), becomes a `GatewayError`
carrying a gRPC code first and leaves through `error_response`, so all errors
have the same shape:

    {"error": {"code": 404, "status": "NOT_FOUND", "message": "...", "details": [...]}}
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from contractrules.violations import Violations

log = logging.getLogger(__name__)

# The table grpc-gateway (runtime/errors.go) and Envoy share.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    # Deliberately 400, not 412: the request cannot succeed in the current state, as grpc-gateway maps it.
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# A google.rpc.ErrorInfo detail (domain, reason) whose condition has an HTTP status of its own,
# more precise than its gRPC code's row above. Only for codes whose details are passed on.
REASON_HTTP_STATUS: dict[tuple[str, str], int] = {
    # The IETF Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header): a key reused with a
    # different payload is 422, not FAILED_PRECONDITION's 400. (Its 409, "the first request is still
    # in flight", cannot arise: the postcard-service creates atomically, see docs/gateway.md.)
    ("postcardapp", "IDEMPOTENCY_KEY_REUSED"): 422,
}

# Backend messages for these codes may hold internals (stack traces, SQL): never pass them through.
_OPAQUE_CODES = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS})
_OPAQUE_MESSAGE = "internal error"
# These are mostly made by the gRPC library itself, whose text names addresses and transport internals
# ("failed to connect to all addresses; last error: ... ipv4:10.0.3.7:50052 ...", "Stream removed"):
# the client gets a plain message, the log keeps the original.
_TRANSPORT_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "service unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the service did not answer within the deadline",
}
_EXHAUSTED_MESSAGE = "the service refused the call: a limit was exceeded"


class GatewayError(Exception):
    """A failure to answer with the common error shape.

    `http_status` overrides the table for the few HTTP-only conditions that
    have no gRPC code of their own (`HTTP_ONLY`; use the named constructors
    below); `headers` are added to the response (Allow, WWW-Authenticate,
    Retry-After).
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        http_status: int | None = None,
        headers: Mapping[str, str] | None = None,
        details: Sequence[dict[str, Any]] = (),
        refusal: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_STATUS.get(code, 500)
        self.headers = dict(headers or {})
        self.details = list(details)
        # A live backend refusing work for now, saying when to come back (`is_refusal`): not a fault of it.
        self.refusal = refusal


def invalid_argument(message: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, message)


def broken_rules(violations: Violations) -> GatewayError:
    """A request breaking its contract's rules: the 400 the service would answer, with the same details."""
    details = _details_json(violations.status())
    return GatewayError(grpc.StatusCode.INVALID_ARGUMENT, violations.message, details=details)


def from_rpc_error(error: grpc.aio.AioRpcError) -> GatewayError:
    """Translate a backend's status. Internal messages are replaced; structured details are kept."""
    code = error.code()
    if code in _OPAQUE_CODES or code not in HTTP_STATUS or code is grpc.StatusCode.OK:
        log.warning("upstream failed", extra={"grpc_code": code.name, "grpc_message": error.details()})
        return GatewayError(grpc.StatusCode.INTERNAL if code is grpc.StatusCode.OK else code, _OPAQUE_MESSAGE)
    status = _rich_status(error)
    message = error.details() or code.name.lower()
    # RESOURCE_EXHAUSTED without details is gRPC's own (a metadata or message size limit, with its internals);
    # a service's deliberate refusal (admission control) says what and when in details, and keeps its message.
    if code in _TRANSPORT_MESSAGES or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and not _has_details(status)):
        log.info("upstream failed", extra={"grpc_code": code.name, "grpc_message": message})
        message = _TRANSPORT_MESSAGES.get(code, _EXHAUSTED_MESSAGE)
    headers = {}
    retry_after = _retry_after(status)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return GatewayError(code, message, http_status=_reason_http_status(status), headers=headers,
                        details=_details_json(status), refusal=is_refusal(code, status))


def is_refusal(code: grpc.StatusCode, status: status_pb2.Status | None) -> bool:
    """A backend's deliberate refusal of work for now: RESOURCE_EXHAUSTED with a google.rpc.RetryInfo or
    QuotaFailure detail, as admission control answers (a quota of the caller, a full queue).

    The one place this is decided. Such a failure is an answer from a live backend that knows when to
    come back, so it is not a backend fault (`upstream.breaker.is_backend_fault`): it opens no breaker,
    is not retried and gets no fallback; the client gets its 429 with Retry-After. RESOURCE_EXHAUSTED
    without these details (a server out of resources, gRPC's own size limits) stays a fault.
    """
    if code != grpc.StatusCode.RESOURCE_EXHAUSTED or status is None:
        return False
    return any(detail.Is(kind.DESCRIPTOR) for detail in status.details for kind in _REFUSAL_DETAILS)


_REFUSAL_DETAILS = (error_details_pb2.RetryInfo, error_details_pb2.QuotaFailure)


def _retry_after(status: status_pb2.Status | None) -> str | None:
    """Retry-After (whole seconds, at least 1) from a google.rpc.RetryInfo detail, if any."""
    for detail in status.details if status is not None else ():
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return str(max(1, math.ceil(info.retry_delay.ToTimedelta().total_seconds())))
    return None


def _rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status of the `grpc-status-details-bin` trailer, if any."""
    try:
        return rpc_status.from_call(error)  # type: ignore[arg-type]  # an AioRpcError is a Call (grpc-stubs says not)
    except Exception:  # a corrupt trailer, or one contradicting the call's status, is dropped, not fatal
        log.warning("undecodable or inconsistent grpc-status-details-bin trailer")
        return None


def _has_details(status: status_pb2.Status | None) -> bool:
    return status is not None and len(status.details) > 0


def _details_json(status: status_pb2.Status | None) -> list[dict[str, Any]]:
    """The details as proto3 JSON objects with "@type"; a detail of an unknown type is left out."""
    details = []
    for detail in status.details if status is not None else ():
        try:
            details.append(json_format.MessageToDict(detail, preserving_proto_field_name=True))
        except Exception:
            log.warning("status detail of an unknown type dropped", extra={"type_url": detail.type_url})
    return details


def _reason_http_status(status: status_pb2.Status | None) -> int | None:
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and (info.domain, info.reason) in REASON_HTTP_STATUS:
            return REASON_HTTP_STATUS[info.domain, info.reason]
    return None


def error_body(http_status: int, code: grpc.StatusCode, message: str, details: Sequence[dict[str, Any]] = ()) -> bytes:
    return orjson.dumps(
        {"error": {"code": http_status, "status": code.name, "message": message, "details": list(details)}}
    )


def error_response(error: GatewayError) -> Response:
    """The error as a JSON response; never stored by a cache (404 and 405 would be heuristically cacheable)."""
    return Response(
        error_body(error.http_status, error.code, error.message, error.details),
        status_code=error.http_status,
        media_type="application/json",
        headers={"cache-control": "no-store", **error.headers},
    )


def internal_error_body() -> bytes:
    """The body of the exception boundary's 500: nothing about the failure itself."""
    return error_body(500, grpc.StatusCode.INTERNAL, _OPAQUE_MESSAGE)


def internal_error_response() -> Response:
    return error_response(GatewayError(grpc.StatusCode.INTERNAL, _OPAQUE_MESSAGE))


# HTTP-only conditions, which no gRPC code maps to: the code each one carries in the error body.
HTTP_ONLY: dict[int, grpc.StatusCode] = {
    405: grpc.StatusCode.UNIMPLEMENTED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,  # the client did not send its request in time
    413: grpc.StatusCode.OUT_OF_RANGE,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    431: grpc.StatusCode.OUT_OF_RANGE,  # as 413, for the headers
}


def grpc_code_for_http_status(http_status: int) -> grpc.StatusCode:
    """For an HTTP status the gateway or the framework chose: the gRPC code its error body names."""
    if http_status in HTTP_ONLY:
        return HTTP_ONLY[http_status]
    for code, status in HTTP_STATUS.items():
        if status == http_status and code not in _OPAQUE_CODES:
            return code
    return grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.INVALID_ARGUMENT


def http_error(http_status: int, message: str, headers: Mapping[str, str] | None = None) -> GatewayError:
    """A failure decided in HTTP terms (the statuses below, or the framework's own)."""
    return GatewayError(grpc_code_for_http_status(http_status), message, http_status=http_status, headers=headers)


def method_not_allowed(method: str, allowed: Sequence[str]) -> GatewayError:
    return http_error(405, f"method {method} is not allowed on this path", {"Allow": ", ".join(allowed)})


def request_timeout(what: str) -> GatewayError:
    return http_error(408, f"{what} not received in time")


def content_too_large(limit: int) -> GatewayError:
    return http_error(413, f"request body is larger than the limit of {limit} bytes")


def unsupported_media_type(got: str) -> GatewayError:
    return http_error(415, f"Content-Type must be application/json (got {got})")


def headers_too_large(limit: int, headers: Mapping[str, str] | None = None) -> GatewayError:
    return http_error(431, f"request headers are larger than the limit of {limit} bytes", headers)


def forwarded_headers_too_large(limit: int, names: Sequence[str]) -> GatewayError:
    """The headers that would cross to the service pass the metadata budget (transcode/headers.py)."""
    return http_error(431, f"the headers forwarded to the service ({', '.join(names)}) are larger than {limit} "
                           "bytes together")


def install_error_handlers(app: FastAPI) -> None:
    """The routes FastAPI serves answer their failures in the same shape as contract routes."""

    async def framework_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else grpc_code_for_http_status(exc.status_code).name.lower()
        return error_response(http_error(exc.status_code, message, exc.headers))

    async def validation_error(_: Request, exc: Exception) -> Response:
        # FastAPI's own 422 for a bad query or body of a hand-written route: a 400 like ours.
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(invalid_argument(f"{where}: {first.get('msg', 'invalid')}"))

    async def gateway_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)  # raised by a hand-written handler's stages (guard, upstream)
        return error_response(exc)

    app.add_exception_handler(HTTPException, framework_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(GatewayError, gateway_error)
