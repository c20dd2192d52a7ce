"""Fan-out: several upstream calls at once, composed into one answer that survives a failing part.

    parts = await fan_out(upstream, context, {
        "user": Part(get_me, get_me.request_class()),
        "recent_postcards": Part(list_mine, list_mine.request_class()),
    })
    parts.messages["user"]    # the response message, or None when that part failed
    parts.errors              # [PartError(part="user", status="UNAVAILABLE")]

Every part is one `Upstream.call`, so it gets what a contract route's call gets
(picking, breaker, deadline, retries where idempotent, the contract's fallback,
identity and request-id metadata, metrics, tracing). All parts start at once
(an asyncio TaskGroup): the answer takes as long as the slowest part, not the sum.

How a part's failure shows, by the same rule as fallbacks (`policy.fallback.falls_back`):

- a backend fault (5xx, RESOURCE_EXHAUSTED, open breaker, no healthy endpoint):
  the part is None and `errors` names it with the gRPC status;
- a backend fault of a method whose contract declares a fallback: the part is
  the fallback (the caller's cached answer, or the empty one), and `errors` names
  it with the status of the failure it stands in for;
- a client's error (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, INVALID_ARGUMENT, ...)
  of any part is raised as it is, and the other parts are cancelled: it is the
  answer, never hidden in `errors`;
- every part failed, fallbacks included: GatewayError 503 UNAVAILABLE with
  Retry-After. A fallback completes an answer next to live data but is never an
  answer on its own: made only of stand-ins, a 200 would tell the client the
  services answered. (A client that wants the fallback alone has the contract
  route, which answers it flagged with X-Fallback.)
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message
from pydantic import BaseModel, Field

from ..errors import GatewayError
from ..policy.fallback import falls_back
from ..upstream.call import CallContext
from ..upstream.client import Upstream
from ..upstream.rpc import Rpc

DEFAULT_RETRY_AFTER = "1"  # when no failed part said when to come back


@dataclass(frozen=True, slots=True)
class Part:
    """One upstream call of a composed answer."""

    rpc: Rpc
    request: Message


class PartError(BaseModel):
    """A part of the answer that the service could not give (JSON in the composed response's `errors`)."""

    part: str = Field(description="The name of the field that is null or a fallback.", examples=["recent_postcards"])
    status: str = Field(description="The gRPC status name of the failure.", examples=["UNAVAILABLE"])


@dataclass(frozen=True, slots=True)
class FanOut:
    messages: dict[str, Message | None]  # by part name; None: failed with no fallback
    errors: list[PartError]  # the parts that failed, in the order of the parts


@dataclass(frozen=True, slots=True)
class _Outcome:
    message: Message | None
    failed: str | None = None  # the gRPC status name of a backend fault
    retry_after: str | None = None


async def fan_out(upstream: Upstream, context: CallContext, parts: Mapping[str, Part]) -> FanOut:
    """Call every part concurrently; see the module's docstring for failures. GatewayError for a client's error."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {name: group.create_task(_call(upstream, part, context)) for name, part in parts.items()}
    except* GatewayError as failed:
        # Only a client's error leaves `_call`; the group has cancelled the other parts.
        raise failed.exceptions[0] from None
    outcomes = {name: task.result() for name, task in tasks.items()}
    errors = [PartError(part=name, status=o.failed) for name, o in outcomes.items() if o.failed is not None]
    if outcomes and len(errors) == len(outcomes):
        raise _all_failed(outcomes)
    return FanOut({name: o.message for name, o in outcomes.items()}, errors)


async def _call(upstream: Upstream, part: Part, context: CallContext) -> _Outcome:
    try:
        reply = await upstream.call(part.rpc, part.request, context)
    except GatewayError as error:
        if not falls_back(error):
            raise
        return _Outcome(None, error.code.name, error.headers.get("Retry-After"))
    return _Outcome(reply.message, reply.fallback_cause)


def _all_failed(outcomes: Mapping[str, _Outcome]) -> GatewayError:
    """503 with the soonest Retry-After a part gave: by then the answer may have a live part again."""
    waits = [int(o.retry_after) for o in outcomes.values() if o.retry_after and o.retry_after.isdigit()]
    which = ", ".join(f"{name} ({o.failed})" for name, o in outcomes.items())
    return GatewayError(
        grpc.StatusCode.UNAVAILABLE,
        f"no part of the answer is available: {which}",
        headers={"Retry-After": str(min(waits)) if waits else DEFAULT_RETRY_AFTER},
    )
