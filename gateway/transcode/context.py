"""HTTP request -> the `CallContext` of the upstream calls it makes: metadata, identity, deadline.

The metadata is the header allow-list (`headers.request_metadata`: the bearer
token among it, which the services verify themselves and take the caller from)
plus the accepted request id (`x-request-id`), and nothing else from the client
that claims an identity; all of it within the metadata budget
(`headers.check_budget`: 431 beyond). A `grpc-timeout` header shortens every
call's deadline; a malformed one is a 400.
"""
from __future__ import annotations

from collections.abc import Mapping

from trust.tokens import Principal

from ..errors import invalid_argument
from ..upstream.call import CallContext
from ..upstream.deadline import InvalidTimeout, parse_grpc_timeout
from .headers import IDEMPOTENCY_KEY, REQUEST_ID_METADATA, check_budget, request_metadata


def call_context(
    headers: Mapping[str, str], principal: Principal | None, request_id: str, now: float
) -> CallContext:
    """`headers` is the request's (case-insensitive) header mapping; `now` is monotonic."""
    added = [(REQUEST_ID_METADATA, request_id)]
    check_budget(headers.items(), added)
    metadata = [*request_metadata(headers.items()), *added]
    timeout = headers.get("grpc-timeout")
    client_deadline = None
    if timeout is not None:
        try:
            client_deadline = now + parse_grpc_timeout(timeout)
        except InvalidTimeout as exc:
            raise invalid_argument(str(exc)) from None
    return CallContext(
        metadata=tuple(metadata),
        user_id=principal.subject if principal is not None else None,
        client_deadline=client_deadline,
        idempotency_key=any(name == IDEMPOTENCY_KEY for name, _ in metadata),
    )
