"""The HTTP server of the gateway: uvicorn with httptools, hardened against slow and greedy clients.

uvicorn has an idle keep-alive timeout but no limit on how long a client may take to send its
request: a connection that sends nothing, or trickles its headers or body, is held forever.
`GatewayHttpProtocol` (a subclass of uvicorn's httptools protocol, given to uvicorn as its
`http` class) adds, per connection:

- a header timeout: the request line and headers must arrive within `header_timeout_seconds`
  of the connection opening or of the request's first byte (a silent connection is closed, a
  partial request gets 408); bytes that begin no request do not keep a connection alive;
- a body timeout: the whole body must arrive within `body_timeout_seconds` after the headers
  (408, or a plain close when the application has already answered);
- a header size limit, `max_header_bytes` (431): httptools itself sets none;
- load shedding, checked when a request's headers are complete: beyond `max_in_flight_requests`
  requests being answered at once, or beyond `max_connections` open connections (that request
  then closes its connection), a fast 503 with Retry-After, without calling the application;
- one Host header, required in HTTP/1.1 (RFC 9112 §3.2): else 400.

Every such answer is in the common error shape. `server_config` builds the uvicorn
configuration from `HttpSettings`; production (`serve.run`) and the tests use the same one.
"""
from __future__ import annotations

import asyncio
import http
import math
from typing import Any, ClassVar, Protocol

import grpc
import uvicorn
from starlette.responses import Response
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import GatewayError, error_body, error_response, headers_too_large, request_timeout
from .settings import HttpSettings

RETRY_AFTER_SECONDS = "1"
_CLOSE = {"Connection": "close"}


def _shed(message: str, *, close: bool) -> Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS, **(_CLOSE if close else {})}
    return error_response(GatewayError(grpc.StatusCode.UNAVAILABLE, message, headers=headers))


def _error_bytes(error: GatewayError) -> bytes:
    """A whole HTTP/1.1 error response in the common shape, for answers written by the server itself."""
    status = error.http_status
    body = error_body(status, error.code, error.message)
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "cache-control: no-store\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class ShedCounter(Protocol):
    def shed_request(self, limit: str) -> None: ...


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the timeouts, limits and checks of the module docstring."""

    settings: ClassVar[HttpSettings] = HttpSettings()
    shed_counter: ClassVar[ShedCounter | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._application: ASGIApp = self.app
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_begun = False  # a request's first byte arrived, its headers are not complete
        self._reading_body = False  # headers complete, body not yet complete
        self._head_bytes = 0  # bytes of the current unfinished request head
        self._heads_completed = 0

    # Connection events.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        began_in_head, heads_before = not self._reading_body, self._heads_completed
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._reading_body:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.settings.body_timeout_seconds, self._body_timed_out)
        elif self._head_begun or self._heads_completed == heads_before:
            # An unfinished head, or bytes that began no request (say, bare CRLFs, which would
            # otherwise cancel the keep-alive timeout forever): the header timeout applies.
            self._arm_header_timer()
        if began_in_head and not self._reading_body and self._heads_completed == heads_before:
            self._head_bytes += len(data)  # the whole read belongs to an unfinished head
            if self._head_bytes > self.settings.max_header_bytes:
                # Answered only if no earlier (pipelined) request's answer is still due.
                idle = self.cycle is None or self.cycle.response_complete
                self._answer_and_close(headers_too_large(self.settings.max_header_bytes) if idle else None)

    # Parser callbacks.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True  # data_received arms the header timer if the head stays unfinished

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._head_begun, self._reading_body, self._head_bytes = False, True, 0
        self._heads_completed += 1
        # The application for this request, chosen here as uvicorn itself does for limit_concurrency.
        self.app = self._choose_application()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_body = False
        self._cancel_body_timer()
        super().on_message_complete()

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn warns that no WebSocket library is installed; here WebSocket is off on purpose
        # (ws="none") and an upgrade request is answered as an ordinary request.
        self.logger.debug("upgrade request answered as an ordinary request")

    # Decisions.

    def _choose_application(self) -> ASGIApp:
        settings = self.settings
        size, hosts = len(self.url), 0
        for name, value in self.headers:
            size += len(name) + len(value) + 4  # ": " and CRLF
            hosts += name == b"host"
        # A head read in one go is measured here; one spread over reads, in data_received.
        if size > settings.max_header_bytes:
            return error_response(headers_too_large(settings.max_header_bytes, _CLOSE))
        if hosts > 1 or (hosts == 0 and self.parser.get_http_version() == "1.1"):
            return error_response(GatewayError(grpc.StatusCode.INVALID_ARGUMENT, "send exactly one Host header"))
        if len(self.connections) > settings.max_connections:
            self.logger.warning("connection limit reached: request shed")
            self._count_shed("connections")
            return _shed("too many connections; retry shortly", close=True)
        if len(self.tasks) >= settings.max_in_flight_requests:
            self.logger.warning("in-flight request limit reached: request shed")
            self._count_shed("in_flight_requests")
            return _shed("too many requests in progress; retry shortly", close=False)
        return self._application

    def _count_shed(self, limit: str) -> None:
        if self.shed_counter is not None:
            self.shed_counter.shed_request(limit)

    # Timers.

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.settings.header_timeout_seconds, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        self._cancel_body_timer()

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; after it, the keep-alive timeout applies
        # A partial request is answered; a connection that asked nothing is just closed.
        self._answer_and_close(request_timeout("request headers") if self._head_begun else None)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._reading_body:
            # Answered unless the application has begun answering this request already.
            started = self.cycle is not None and self.cycle.response_started
            self._answer_and_close(None if started else request_timeout("request body"))

    def _answer_and_close(self, error: GatewayError | None) -> None:
        """Write `error` if given, and close the connection.

        The request in progress, if any, sees a disconnect: its reads end, its writes are dropped.
        """
        self._cancel_timers()
        if error is not None:
            self.transport.write(_error_bytes(error))
            self.logger.info("connection closed: %s %s", error.http_status, error.message)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def protocol_class(settings: HttpSettings, shed_counter: ShedCounter | None = None) -> type[GatewayHttpProtocol]:
    """GatewayHttpProtocol bound to `settings` (uvicorn instantiates the class it is given)."""
    return type("GatewayHttpProtocol", (GatewayHttpProtocol,), {"settings": settings, "shed_counter": shed_counter})


def server_config(app: ASGIApp, settings: HttpSettings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of the gateway; `overrides` are for tests (loop="none").

    Shed requests are counted in the app's metrics (`gateway_http_shed`) when it has them (`app.state.metrics`).
    """
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": protocol_class(settings, metrics),
        "ws": "none",  # no WebSocket routes: an upgrade request is an ordinary request
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace_seconds),
        # The client address comes from gateway.policy.client_address (trusted proxies in settings), not from
        # uvicorn's own X-Forwarded-For rewriting, which trusts 127.0.0.1 by default.
        "proxy_headers": False,
        **overrides,
    }
    return uvicorn.Config(app, **options)
