"""GET /api/v1/home: the caller's profile and newest postcards in one round trip from the phone.

    {"user": {...GetMe...} | null, "recent_postcards": [...PostcardSummary, newest first...] | null,
     "errors": [{"part": "recent_postcards", "status": "UNAVAILABLE"}]}

Both calls run at once (`fanout.fan_out`). `recent_postcards` is the first
`limit` of ListMyPostcards, which lists newest first; when the postcard-service
fails it is the contract's fallback (the caller's last list, else `[]`), named
in `errors`. The route counts against the rate limits of `gateway.Home` in
GATEWAY_RATE_LIMIT__ROUTES.
"""
# No `from __future__ import annotations`: FastAPI reads the handler's annotations, which name a local dependency.
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel, Field, WithJsonSchema
from starlette.responses import Response

from ..transcode.response import message_json
from ..upstream.call import CallContext
from .composed import Composer
from .fanout import Part, PartError, fan_out

HOME_ROUTE = "gateway.Home"  # its name in GATEWAY_RATE_LIMIT__ROUTES
PATH = "/api/v1/home"
GET_ME = "postcardapp.user.v1.UserService.GetMe"
LIST_MINE = "postcardapp.postcard.v1.PostcardService.ListMyPostcards"
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
LIMIT_TEXT = f"How many postcards, newest first: 1-{MAX_LIMIT}, {DEFAULT_LIMIT} when absent; another value is a 400."


def _contract_schema(message: str) -> WithJsonSchema:
    """The contract document's schema of a response message (proto3 JSON), by its component name."""
    return WithJsonSchema({"$ref": f"#/components/schemas/{message}"})


class Home(BaseModel):
    user: Annotated[dict[str, Any], _contract_schema("postcardapp.user.v1.GetMeResponse")] | None = Field(
        description="The caller's profile (as `GET /api/v1/users/me`); null when the user-service failed."
    )
    recent_postcards: list[
        Annotated[dict[str, Any], _contract_schema("postcardapp.postcard.v1.PostcardSummary")]
    ] | None = Field(
        description="The caller's newest postcards, newest first (as `GET /api/v1/postcards/me`). When the "
        "postcard-service failed: the caller's last list, else `[]`, named in `errors`."
    )
    errors: list[PartError] = Field(description="The parts the services could not give; empty when all answered.")


def install_home(app: FastAPI, composer: Composer) -> None:
    """Add GET /api/v1/home to `app` when both services are configured."""
    if not composer.serves(GET_ME, LIST_MINE):
        return
    get_me, list_mine = composer.catalog[GET_ME], composer.catalog[LIST_MINE]
    caller = composer.caller(HOME_ROUTE, PATH, query={"limit"})

    @composer.get(
        app, PATH, GET_ME, LIST_MINE,
        response_model=Home,
        response_description="The parts that answered; the others `null` (or their fallback) and named in `errors`.",
        operation_id=HOME_ROUTE.replace(".", "_"),  # as contract routes: the route's name
        tags=["Aggregation"],
        summary="Home: the caller's profile and newest postcards",
        description="Calls `GetMe` and `ListMyPostcards` at once. A part whose service fails is `null` (or its "
        "fallback) and named in `errors`; when both fail the answer is 503. A client's error of either part "
        "(such as 401) is the answer. Needs a bearer JWT.",
    )
    async def home(
        context: Annotated[CallContext, Depends(caller)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=LIMIT_TEXT)] = DEFAULT_LIMIT,
    ) -> Response:
        parts = await fan_out(composer.upstream, context, {
            "user": Part(get_me, get_me.request_class()),
            "recent_postcards": Part(list_mine, list_mine.request_class()),
        })
        user, mine = parts.messages["user"], parts.messages["recent_postcards"]
        newest = mine.postcards[:limit] if mine is not None else None  # type: ignore[attr-defined]
        return composer.render(Home(
            user=message_json(user) if user is not None else None,
            recent_postcards=[message_json(p) for p in newest] if newest is not None else None,
            errors=parts.errors,
        ))
