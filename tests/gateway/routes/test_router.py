import random

import pytest

from gateway.errors import GatewayError
from gateway.routes.router import Router
from gateway.routes.table import Route
from gateway.routes.template import parse_template, split_path


@pytest.mark.parametrize(
    ("method", "path", "rpc", "values"),
    [
        ("POST", "/api/v1/users/login", "Login", {}),
        ("GET", "/api/v1/users/me", "GetMe", {}),
        ("POST", "/api/v1/postcards/create", "CreatePostcard", {}),
        ("GET", "/api/v1/postcards/status/t-1", "GetTaskStatus", {"task_id": "t-1"}),
        ("GET", "/api/v1/postcards/me", "ListMyPostcards", {}),
        ("GET", "/api/v1/postcards/p-1", "GetPostcard", {"postcard_id": "p-1"}),
        ("GET", "/api/v1/postcards/p-1/image", "GetPostcardImage", {"postcard_id": "p-1"}),
        # A literal bound to another HTTP method does not hide the variable route of this one.
        ("GET", "/api/v1/postcards/create", "GetPostcard", {"postcard_id": "create"}),
    ],
)
def test_routes(contract_routes: list[Route], method: str, path: str, rpc: str, values: dict[str, str]) -> None:
    route, found = Router(contract_routes).match(method, path)
    assert route.method.name == rpc
    assert {".".join(k): v for k, v in found.items()} == values


@pytest.mark.parametrize("seed", range(20))
def test_literal_wins_whatever_the_order_given(contract_routes: list[Route], seed: int) -> None:
    routes = list(contract_routes)
    random.Random(seed).shuffle(routes)
    for candidate in (routes, list(reversed(routes))):
        router = Router(candidate)
        assert router.match("GET", "/api/v1/postcards/me")[0].method.name == "ListMyPostcards"
        assert router.match("GET", "/api/v1/postcards/p-1")[0].method.name == "GetPostcard"
        assert router.match("GET", "/api/v1/postcards/p-1/image")[0].method.name == "GetPostcardImage"


@pytest.mark.parametrize(
    ("path", "rpc"), [("/api/v1/users/me", "GetMe"), ("/api/v1/postcards/p-1/image", "GetPostcardImage")]
)
def test_head_is_answered_by_the_get_route(contract_routes: list[Route], path: str, rpc: str) -> None:
    route, _ = Router(contract_routes).match("HEAD", path)
    assert route.method.name == rpc


def test_head_is_not_allowed_where_get_is_not(contract_routes: list[Route]) -> None:
    with pytest.raises(GatewayError) as caught:
        Router(contract_routes).match("HEAD", "/api/v1/users/login")
    assert (caught.value.http_status, caught.value.headers["Allow"]) == (405, "POST")


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("DELETE", "/api/v1/postcards/me", 405, "GET, HEAD"),
        ("GET", "/api/v1/users/login", 405, "POST"),
        ("PUT", "/api/v1/postcards/create", 405, "GET, HEAD, POST"),
        ("GET", "/api/v1/nothing", 404, None),
        ("GET", "/api/v1/postcards/p-1/image/extra", 404, None),
        ("GET", "/api/v1/postcards/me/", 404, None),
        ("GET", "/", 404, None),
    ],
)
def test_no_route(contract_routes: list[Route], method: str, path: str, status: int, allow: str | None) -> None:
    with pytest.raises(GatewayError) as caught:
        Router(contract_routes).match(method, path)
    assert caught.value.http_status == status
    assert caught.value.headers.get("Allow") == allow


def test_routes_indexed_by_segment_count_match_as_a_scan_of_every_route(contract_routes: list[Route]) -> None:
    """The router tries only the templates of the path's length (and the deep ones): the same winner as trying all."""
    rpc = contract_routes[0].rpc
    sources = ["/a/b/{x=**}", "/a/{y}/c", "/a/{y}", "/a/b", "/{z=**}:do", "/a/{y}/{w}", "/{z=**}"]
    routes = [Route(rpc, "GET", parse_template(source), "", "") for source in sources]
    router = Router(routes)
    in_order = sorted(routes, key=lambda route: route.template.precedence)
    alphabet = ["a", "b", "c", ""]
    rng = random.Random(7)
    for _ in range(2000):
        path = "/" + "/".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) + rng.choice(["", ":do"])
        segments, verb = split_path(path)
        expected = next((route for route in in_order
                         if route.template.verb == verb and route.template.match(segments) is not None), None)
        try:
            found: Route | None = router.match("GET", path)[0]
        except GatewayError:
            found = None
        assert found is expected, path


def test_the_index_stays_bounded_by_methods_served_and_segment_counts(contract_routes: list[Route]) -> None:
    router = Router(contract_routes)
    for n in range(200):
        for method in ("GET", "BREW", "X" * n):
            with pytest.raises(GatewayError):
                router.match(method, "/nowhere" * (n + 1))
    assert len(router._by_length) <= len({route.http_method for route in contract_routes} | {"HEAD"}) * 33
