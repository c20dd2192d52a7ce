import pytest

from gateway.routes.template import Kind, TemplateError, parse_template, split_path


@pytest.mark.parametrize(
    ("source", "kinds", "variables", "verb"),
    [
        ("/api/v1/postcards/me", "LLLL", [], ""),
        ("/api/v1/postcards/{postcard_id}", "LLLA", [("postcard_id", 3, 4)], ""),
        ("/v1/{name=shelves/*/books/*}", "LLALA", [("name", 1, 5)], ""),
        ("/v1/{name=files/**}", "LLD", [("name", 1, 3)], ""),
        ("/v1/{book.name=*}:publish", "LA", [("book.name", 1, 2)], "publish"),
        ("/v1/*/items", "LAL", [], ""),
        ("/v1/{a}/{b.c}", "LAA", [("a", 1, 2), ("b.c", 2, 3)], ""),
    ],
)
def test_parse(source: str, kinds: str, variables: list[tuple[str, int, int]], verb: str) -> None:
    template = parse_template(source)
    letters = {Kind.LITERAL: "L", Kind.ANY: "A", Kind.DEEP: "D"}
    assert "".join(letters[k] for k in template.kinds) == kinds
    assert [(".".join(v.field_path), v.start, v.end) for v in template.variables] == variables
    assert template.verb == verb


@pytest.mark.parametrize(
    "source",
    ["api/v1", "/v1/{name", "/v1/name}", "/v1/{9bad}", "/v1/**/x", "/v1/{a}/{a}", "/v1/{a={b}}", "/v1//x", "/v1/a b"],
)
def test_parse_rejects(source: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(source)


@pytest.mark.parametrize(
    ("source", "path", "expected"),
    [
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards/abc", {"postcard_id": "abc"}),
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards/a%20b", {"postcard_id": "a b"}),
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards/a%2Fb", {"postcard_id": "a/b"}),
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards/", None),
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards/a/b", None),
        ("/api/v1/postcards/{postcard_id}", "/api/v1/postcards", None),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b2", {"name": "shelves/s1/books/b2"}),
        ("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/novels/b2", None),
        ("/v1/{name=files/**}", "/v1/files/a/b/c", {"name": "files/a/b/c"}),
        ("/v1/{name=files/**}", "/v1/files", None),
        ("/v1/{name}:cancel", "/v1/op1:cancel", {"name": "op1"}),
    ],
)
def test_match(source: str, path: str, expected: dict[str, str] | None) -> None:
    template = parse_template(source)
    segments, verb = split_path(path)
    values = template.match(segments) if verb == template.verb else None
    assert (None if values is None else {".".join(k): v for k, v in values.items()}) == expected


def test_literals_sort_before_variables() -> None:
    specific = parse_template("/api/v1/postcards/me")
    general = parse_template("/api/v1/postcards/{postcard_id}")
    assert specific.precedence < general.precedence


def test_openapi_path() -> None:
    assert parse_template("/v1/{name=shelves/*}/books:list").openapi_path() == "/v1/{name}/books:list"
    assert parse_template("/a/*/{b}").openapi_path() == "/a/*/{b}"
