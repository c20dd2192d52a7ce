"""Request routing: an HTTP method and raw path -> the route and its path variables.

The router orders the routes itself, most specific first (literal segments
before variables, segment by segment), so the first template that matches
wins: `/api/v1/postcards/me` is tried before `/api/v1/postcards/{postcard_id}`
whatever the order the routes were given in. A path that some route matches
under another method is a 405 with `Allow`. HEAD is answered by
the GET route (RFC 9110 §9.3.2; the HTTP server sends no body for HEAD).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import grpc

from ..errors import GatewayError, method_not_allowed
from .table import Route
from .template import split_path

PathValues = dict[tuple[str, ...], str]
_INDEXED_SEGMENTS = 32


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        # A stable sort: routes of equal precedence keep their given order (collisions are refused earlier).
        self._routes = sorted(routes, key=lambda route: route.template.precedence)
        by_method: dict[str, list[Route]] = defaultdict(list)
        for route in self._routes:
            by_method[route.http_method].append(route)
        by_method["HEAD"] += by_method["GET"]  # after any explicit (custom) HEAD binding
        self._by_method = dict(by_method)
        # The routes of a method that can match a path of n segments, in the same order: a request tries only
        # those, not every route of its method. Made when first needed, for n up to _INDEXED_SEGMENTS.
        self._by_length: dict[tuple[str, int], list[Route]] = {}

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def match(self, method: str, raw_path: str) -> tuple[Route, PathValues]:
        """The route for this request; GatewayError 404 or 405 (with Allow) when there is none."""
        segments, verb = split_path(raw_path)
        for route in self._candidates(method, len(segments)):
            if route.template.verb == verb:
                values = route.template.match(segments)
                if values is not None:
                    return route, values
        allowed = sorted(
            {
                route.http_method
                for route in self._routes
                if route.template.verb == verb and route.template.match(segments) is not None
            }
        )
        if "GET" in allowed:
            allowed = sorted({*allowed, "HEAD"})
        if allowed:
            raise method_not_allowed(method, allowed)
        raise GatewayError(grpc.StatusCode.NOT_FOUND, "no route for this path")

    def _candidates(self, method: str, length: int) -> list[Route]:
        key = (method, length)
        found = self._by_length.get(key)
        if found is None:
            found = [route for route in self._by_method.get(method, ()) if route.template.may_match(length)]
            if length <= _INDEXED_SEGMENTS and method in self._by_method:  # bounded: no entry per odd request
                self._by_length[key] = found
        return found
