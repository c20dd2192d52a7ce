from typing import Any

import grpc
import orjson
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc.aio import AioRpcError

from gateway.errors import HTTP_STATUS, GatewayError, error_response, from_rpc_error, grpc_code_for_http_status

EXPECTED = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500,
}  # fmt: skip


@pytest.mark.parametrize(("name", "status"), EXPECTED.items())
def test_status_table(name: str, status: int) -> None:
    assert HTTP_STATUS[grpc.StatusCode[name]] == status


def test_every_code_is_mapped() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode)


def test_error_shape() -> None:
    response = error_response(GatewayError(grpc.StatusCode.NOT_FOUND, "no such postcard", headers={"X-A": "1"}))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-a"] == "1"
    assert orjson.loads(response.body) == {
        "error": {"code": 404, "status": "NOT_FOUND", "message": "no such postcard", "details": []}
    }


@pytest.mark.parametrize(
    ("http_status", "code"),
    [
        (404, "NOT_FOUND"),
        (405, "UNIMPLEMENTED"),
        (400, "INVALID_ARGUMENT"),
        (415, "INVALID_ARGUMENT"),
        (500, "INTERNAL"),
    ],
)
def test_framework_statuses(http_status: int, code: str) -> None:
    assert grpc_code_for_http_status(http_status) is grpc.StatusCode[code]


def _rpc_error(code: grpc.StatusCode, message: str, *details: Any, status_code: int | None = None) -> AioRpcError:
    """A backend failure as the gRPC client reports it, with a grpc-status-details-bin trailer when given details."""
    trailing = grpc.aio.Metadata()
    if details or status_code is not None:
        packed = []
        for detail in details:
            any_ = any_pb2.Any()
            any_.Pack(detail)
            packed.append(any_)
        status = status_pb2.Status(code=status_code or code.value[0], message=message, details=packed)
        trailing.add("grpc-status-details-bin", status.SerializeToString())
    return AioRpcError(code, grpc.aio.Metadata(), trailing, message)


REUSED = error_details_pb2.ErrorInfo(reason="IDEMPOTENCY_KEY_REUSED", domain="postcardapp")
OTHER_REASON = error_details_pb2.ErrorInfo(reason="OTHER", domain="postcardapp")
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

# (case, backend error, HTTP status, gRPC status name, number of details passed on)
FROM_BACKEND = [
    ("reason with a status of its own", _rpc_error(FAILED_PRECONDITION, "reused", REUSED),
     422, "FAILED_PRECONDITION", 1),
    ("no details: the code's row", _rpc_error(FAILED_PRECONDITION, "reused"), 400, "FAILED_PRECONDITION", 0),
    ("another reason", _rpc_error(FAILED_PRECONDITION, "x", OTHER_REASON),
     400, "FAILED_PRECONDITION", 1),
    ("same reason, another domain", _rpc_error(
        FAILED_PRECONDITION, "x", error_details_pb2.ErrorInfo(reason="IDEMPOTENCY_KEY_REUSED", domain="elsewhere")),
     400, "FAILED_PRECONDITION", 1),
    ("other detail types pass", _rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "bad", error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="mood", description="required")])),
     400, "INVALID_ARGUMENT", 1),
    ("opaque code: no details, no reason", _rpc_error(grpc.StatusCode.INTERNAL, "db down", REUSED), 500, "INTERNAL", 0),
    ("trailer contradicting the status", _rpc_error(FAILED_PRECONDITION, "x", REUSED, status_code=5),
     400, "FAILED_PRECONDITION", 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "http_status", "status", "detail_count"), [c[1:] for c in FROM_BACKEND], ids=[c[0] for c in FROM_BACKEND]
)
def test_backend_errors(error: AioRpcError, http_status: int, status: str, detail_count: int) -> None:
    gateway_error = from_rpc_error(error)
    assert (gateway_error.http_status, gateway_error.code.name, len(gateway_error.details)) == (
        http_status, status, detail_count
    )  # fmt: skip


def test_reason_detail_is_shown_as_json() -> None:
    error = from_rpc_error(_rpc_error(FAILED_PRECONDITION, "reused", REUSED))
    assert error.details == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "IDEMPOTENCY_KEY_REUSED",
            "domain": "postcardapp",
        }
    ]


def test_corrupt_details_trailer_is_dropped() -> None:
    trailing = grpc.aio.Metadata(("grpc-status-details-bin", b"\xff\xff not a status"))
    error = from_rpc_error(AioRpcError(FAILED_PRECONDITION, grpc.aio.Metadata(), trailing, "x"))
    assert (error.http_status, error.details) == (400, [])


GRPC_LIMIT_TEXT = "received metadata size exceeds hard limit (17138 vs. 16384);  :path:93B :authority:57B"


def test_grpc_own_resource_exhausted_text_never_reaches_the_client() -> None:
    error = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, GRPC_LIMIT_TEXT))
    assert (error.http_status, error.message) == (429, "the service refused the call: a limit was exceeded")


def test_a_services_own_refusal_keeps_its_message() -> None:
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromSeconds(3)
    error = from_rpc_error(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many tasks", retry))
    assert (error.http_status, error.message) == (429, "too many tasks")


def _retry(seconds: float) -> error_details_pb2.RetryInfo:
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromNanoseconds(round(seconds * 1e9))
    return info


QUOTA = error_details_pb2.QuotaFailure(violations=[error_details_pb2.QuotaFailure.Violation(subject="user:a")])
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED

# (case, backend error, a refusal (not a backend fault), Retry-After)
REFUSALS = [
    ("RetryInfo", _rpc_error(EXHAUSTED, "later", _retry(2.5)), True, "3"),
    ("QuotaFailure and RetryInfo", _rpc_error(EXHAUSTED, "later", QUOTA, _retry(0.2)), True, "1"),
    ("QuotaFailure alone", _rpc_error(EXHAUSTED, "later", QUOTA), True, None),
    ("no details: gRPC's own, a fault", _rpc_error(EXHAUSTED, "metadata too big"), False, None),
    ("another detail only", _rpc_error(EXHAUSTED, "x", OTHER_REASON), False, None),
    ("RetryInfo on UNAVAILABLE: not a refusal", _rpc_error(grpc.StatusCode.UNAVAILABLE, "x", _retry(4)), False, "4"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "refusal", "retry_after"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refusals_and_retry_after(error: AioRpcError, refusal: bool, retry_after: str | None) -> None:
    from gateway.upstream.breaker import is_backend_fault

    gateway_error = from_rpc_error(error)
    assert gateway_error.refusal is refusal
    assert is_backend_fault(gateway_error) is not refusal
    assert gateway_error.headers.get("Retry-After") == retry_after
