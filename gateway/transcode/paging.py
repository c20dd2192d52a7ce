"""A paged list's next page as a `Link: <...>; rel="next"` response header (RFC 8288), from the contract.

A method whose policy declares `pagination` (AIP-158: the response field holding the next page's
token, the request field it goes back in) gets, on every answer with a token, the URL of its next
page: the request's own path and query, with the token's query parameter set to the token (any
value of it the request had, under its proto or JSON name, replaced). The reference is relative to
the request's origin (a path and a query), as RFC 8288 allows, so it stays right behind proxies.
On the last page (an empty token) there is no header. The body is untouched: a route whose
`response_body` is the bare list keeps it.

Checked at start-up (`next_page_of`): both token fields are singular strings, the request's token
and page size fields are query parameters of the route (not path variables, not in the body), the
page size an integer, and 0 < default page size <= maximum.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from starlette.types import Scope

from ..routes.table import RouteTableError
from ..upstream.rpc import Pagination

LINK = "link"


@dataclass(frozen=True, slots=True)
class NextPage:
    token_field: str  # in the response message
    parameter: str  # the query parameter (proto name) the token is sent back in
    names: frozenset[str]  # every name of that parameter (proto and JSON), replaced in the next URL

    def link(self, response: Message, scope: Scope) -> str | None:
        """The Link header value announcing the next page, or None on the last page."""
        token: str = getattr(response, self.token_field)
        if not token:
            return None
        query = [(k, v) for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                 if k not in self.names]
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        target = f"{path}?{urlencode([*query, (self.parameter, token)], quote_via=quote)}"
        return f'<{target}>; rel="next"'


def next_page_of(
    route_name: str, pagination: Pagination | None, request: Descriptor, response: Descriptor,
    query_parameters: Iterable[str],
) -> NextPage | None:
    """The route's next-page rule; RouteTableError when the contract's `pagination` cannot work as declared."""
    if pagination is None:
        return None
    query = set(query_parameters)

    def fail(problem: str) -> RouteTableError:
        return RouteTableError(f"{route_name}: pagination {problem}")

    token = response.fields_by_name.get(pagination.next_page_token_field)
    if token is None or not _is(token, _STRING):
        raise fail(f"names {pagination.next_page_token_field!r}, not a string field of the response")
    parameter = request.fields_by_name.get(pagination.page_token_field)
    if parameter is None or not _is(parameter, _STRING) or parameter.name not in query:
        raise fail(f"names {pagination.page_token_field!r}, not a string query parameter of the route")
    if pagination.page_size_field:
        size = request.fields_by_name.get(pagination.page_size_field)
        if size is None or not _is(size, _INTEGERS) or size.name not in query:
            raise fail(f"names {pagination.page_size_field!r}, not an integer query parameter of the route")
        if not 0 < pagination.default_page_size <= pagination.max_page_size:
            raise fail("page sizes must be 0 < default_page_size <= max_page_size")
    return NextPage(token.name, parameter.name, frozenset({parameter.name, parameter.json_name}))


_F = FieldDescriptor
_STRING = frozenset({_F.TYPE_STRING})
_INTEGERS = frozenset({_F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32,
                       _F.TYPE_SINT64, _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64})


def _is(field: FieldDescriptor, types: frozenset[int]) -> bool:
    return field.type in types and not field.is_repeated
