"""The caller's identity as the gateway passes it: gRPC metadata, never a request field."""
from __future__ import annotations

from typing import Any

import grpc

# Set only by the gateway, from the verified JWT subject; the gateway drops any
# value a client tries to send itself.
USER_ID_METADATA = "x-user-id"
IDEMPOTENCY_KEY_METADATA = "idempotency-key"
MAX_USER_ID_LENGTH = 128


def metadata_value(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    """The first value of `key` in the call's metadata, or None."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else value
    return None


async def require_caller(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The calling user's id; aborts the call with UNAUTHENTICATED when it is missing or malformed, saying which."""
    user_id = metadata_value(context, USER_ID_METADATA)
    if user_id is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing caller identity ({USER_ID_METADATA} metadata)")
    assert user_id is not None  # abort raises
    if not user_id.strip() or len(user_id) > MAX_USER_ID_LENGTH:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            f"malformed caller identity: {USER_ID_METADATA} metadata must be 1-{MAX_USER_ID_LENGTH} characters, "
            f"not blank (got {len(user_id)})",
        )
    return user_id
