"""What a refusal for broken rules says: the google.rpc.BadRequest of a gRPC error, or of a gateway error body."""
from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


def grpc_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(field, reason) of every field violation in the status details (`grpc-status-details-bin`)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    found = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [(violation.field, violation.reason) for violation in bad_request.field_violations]
    return found


def http_violations(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) of every field violation in a gateway error body's `details`."""
    return [
        (violation["field"], violation["reason"])
        for detail in body["error"]["details"] if detail.get("@type") == BAD_REQUEST_TYPE
        for violation in detail["field_violations"]
    ]
