"""The respond stage of a server-streaming route: one event per upstream message, until the stream ends.

`Pipeline.answer` opens the upstream stream first, so that everything up to
the first message (authentication, limits, NOT_FOUND, no endpoint) is an
ordinary error response. What it returns for a streaming route is a
`ServerStream`; the respond stage sends it:

    200 + headers (request id, CORS, `Cache-Control: no-store`, `Vary: Accept`)
    event 1 .. n                     one per upstream message (`framing.py`)
    [heartbeats]                     SSE only, every `heartbeat_seconds`
    last: an error event             when the upstream fails after its first message
    end of body

sse-starlette's `EventSourceResponse` sends it for both framings: it encodes
SSE, sends the heartbeats, listens for the client's disconnect (which cancels
the task reading the upstream, so the gRPC call ends at once, `upstream/stream.py`),
bounds each send (`send_timeout_seconds`: a client that stopped reading is
dropped), and ends every stream when the server shuts down. It is given ready
lines for NDJSON (bytes pass through unencoded) and no heartbeat. The stream
then ends with a 503 error event here, so that clients reconnect elsewhere.

However it ends, the upstream call is cancelled if still running and the slot
is released; the access line and metrics (`observability/access.py`) get the
framing, the number of events and how it ended: `completed` (the upstream
ended), `error` (an error event was the last), `client_gone` (the client
disconnected, or read too slowly).
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
import orjson
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from ..errors import GatewayError, error_body
from ..observability.access import Exchange
from ..settings import StreamSettings
from ..transcode.plan import RoutePlan
from ..transcode.response import NO_STORE, to_json_value
from ..upstream.stream import UpstreamStream
from .admission import Slot
from .framing import Framing, heartbeat

log = logging.getLogger(__name__)

COMPLETED, ERROR, CLIENT_GONE = "completed", "error", "client_gone"
_SHUTTING_DOWN = GatewayError(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down: reconnect")
_INTERNAL = GatewayError(grpc.StatusCode.INTERNAL, "internal error")


class ServerStream:
    """The answer of a streaming route: an open upstream stream, its framing and its admission slot."""

    def __init__(
        self,
        plan: RoutePlan,
        upstream: UpstreamStream,
        framing: Framing,
        slot: Slot,
        settings: StreamSettings,
        exchange: Exchange,
    ) -> None:
        self.plan = plan
        self.status_code = plan.success_status
        self._upstream = upstream
        self._framing = framing
        self._slot = slot
        self._settings = settings
        self._exchange = exchange
        self._events = 0
        self._outcome = CLIENT_GONE
        exchange.stream = framing.name

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the whole stream with `send` (the pipeline's, which adds its headers); raises only on cancellation."""
        disconnected = finished = False
        # sse-starlette answers HEAD with the headers alone; otherwise the stream says how it ended.
        self._outcome = COMPLETED if scope["method"] == "HEAD" else CLIENT_GONE

        async def receive_noting() -> Message:
            nonlocal disconnected
            message = await receive()
            disconnected = disconnected or message["type"] == "http.disconnect"
            return message

        async def send_noting(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                # sse-starlette always says keep-alive; whether to close is the pipeline's decision (drain).
                message = {**message, "headers": [(k, v) for k, v in message["headers"] if k != b"connection"]}
            elif not message.get("more_body", False):
                finished = True
            await send(message)

        response = EventSourceResponse(
            self._frames(),
            status_code=self.status_code,
            headers={"cache-control": NO_STORE, "vary": "accept"},
            media_type=self._framing.media_type,
            ping=self._settings.heartbeat_seconds if self._framing.is_sse else 0,
            ping_message_factory=heartbeat,
            send_timeout=self._settings.send_timeout_seconds,
        )
        try:
            await response(scope, receive_noting, send_noting)
            if not (finished or disconnected):
                # sse-starlette ended it because the server is shutting down: say so as the last event.
                await send({"type": "http.response.body", "body": self._error(_SHUTTING_DOWN), "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except SendTimeoutError:
            log.info("stream dropped: the client stopped reading", extra={"route": self._exchange.route})
            self._outcome = CLIENT_GONE
        except Exception:  # the response has begun: nothing is left to answer with but the end of the connection
            log.exception("unhandled error in a stream", extra={"route": self._exchange.route})
            self._outcome = ERROR
        finally:
            self._upstream.cancel()  # no await: this may run in a cancelled task
            self._slot.release()
            self._exchange.messages = self._events
            self._exchange.stream_end = self._outcome
            if self._exchange.grpc_code is None:
                self._exchange.grpc_code = self._upstream.code

    async def _frames(self) -> AsyncIterator[bytes]:
        try:
            async for message in self._upstream:
                self._events += 1
                yield self._framing.event(self._events, orjson.dumps(to_json_value(self.plan, message)))
            self._outcome = COMPLETED
        except GatewayError as error:
            yield self._error(error)
        except Exception:
            log.exception("unhandled error in a stream", extra={"route": self._exchange.route})
            yield self._error(_INTERNAL)

    def _error(self, error: GatewayError) -> bytes:
        self._events += 1
        self._outcome = ERROR
        self._exchange.grpc_code = error.code.name
        body = error_body(error.http_status, error.code, error.message, error.details)
        return self._framing.error(self._events, body)
