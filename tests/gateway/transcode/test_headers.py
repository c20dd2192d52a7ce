from gateway.transcode.headers import request_metadata, response_headers


def test_only_allowed_request_headers_cross() -> None:
    headers = [
        ("authorization", "Bearer t"),
        ("x-request-id", "r1"),
        ("traceparent", "00-abc-def-01"),
        ("idempotency-key", "k"),
        ("accept-language", "zh-CN"),
        ("x-user-id", "someone-else"),  # identity is never taken from the client
        ("cookie", "session=1"),
        ("host", "example"),
        ("x-forwarded-for", "1.2.3.4"),
        ("idempotency-key", "bad\nvalue"),
    ]
    assert request_metadata(headers) == [
        ("authorization", "Bearer t"),
        ("x-request-id", "r1"),
        ("traceparent", "00-abc-def-01"),
        ("idempotency-key", "k"),
        ("accept-language", "zh-CN"),
    ]


def test_only_allowed_response_metadata_crosses() -> None:
    metadata = [
        ("cache-control", "private, max-age=60"),
        ("retry-after", "3"),
        ("x-user-id", "u"),
        ("grpc-status-details-bin", b"\x00"),
        ("etag", b"binary-not-allowed"),
        ("set-cookie", "a=b"),
    ]
    assert response_headers(metadata) == {"cache-control": "private, max-age=60", "retry-after": "3"}
