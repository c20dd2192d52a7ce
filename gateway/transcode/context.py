"""HTTP request -> the `CallContext` of the upstream calls it makes: metadata, identity, deadline.

The metadata is the header allow-list (`headers.request_metadata`: the bearer
token among it, which the services verify themselves and take the caller from)
plus the accepted request id (`x-request-id`), and nothing else from the client
that claims an identity; all of it within the metadata budget
(`headers.check_budget`: 431 beyond). A `grpc-timeout` header shortens every
call's deadline; a malformed one is a 400.
"""
from __future__ import annotations

from trust.tokens import Principal

from ..errors import invalid_argument
from ..upstream.call import CallContext
from ..upstream.deadline import InvalidTimeout, parse_grpc_timeout
from .headers import ALLOW_LISTED, IDEMPOTENCY_KEY, REQUEST_ID_METADATA, check_budget, request_metadata

RawHeaders = list[tuple[bytes, bytes]]  # an ASGI scope's "headers": names in lower case


def call_context(raw_headers: RawHeaders, principal: Principal | None, request_id: str, now: float) -> CallContext:
    """`raw_headers` is the request's, as the ASGI scope has them; `now` is monotonic."""
    # One pass, decoding only what may cross (as Starlette decodes: latin-1); the first grpc-timeout counts.
    sent: list[tuple[str, str]] = []
    timeout: bytes | None = None
    for name, value in raw_headers:
        allowed = ALLOW_LISTED.get(name)
        if allowed is not None:
            sent.append((allowed, value.decode("latin-1")))
        elif name == b"grpc-timeout" and timeout is None:
            timeout = value
    added = [(REQUEST_ID_METADATA, request_id)]
    check_budget(sent, added)
    metadata = [*request_metadata(sent), *added]
    client_deadline = None
    if timeout is not None:
        try:
            client_deadline = now + parse_grpc_timeout(timeout.decode("latin-1"))
        except InvalidTimeout as exc:
            raise invalid_argument(str(exc)) from None
    return CallContext(
        metadata=tuple(metadata),
        user_id=principal.subject if principal is not None else None,
        client_deadline=client_deadline,
        idempotency_key=any(name == IDEMPOTENCY_KEY for name, _ in metadata),
    )
