import grpc
import orjson
import pytest

from gateway.errors import HTTP_STATUS, GatewayError, error_response, grpc_code_for_http_status

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
