"""How a stream of messages is written on the wire: Server-Sent Events or NDJSON, chosen by `Accept`.

- `Accept` asking for `text/event-stream` (at least as much as for NDJSON):
  Server-Sent Events. One event per message, its `data:` the message as
  proto3 JSON on one line, an `id:` counting the events from 1, a `retry:`
  hint on the first event (how long an EventSource waits before reconnecting),
  and a comment line (`: keep-alive`) as a heartbeat, so that idle proxies
  keep the connection open.
- Anything else, no `Accept` included: `application/x-ndjson`, one JSON object
  per line, as grpc-gateway streams. It is the default because every HTTP
  client can read it with a line split (curl, `wx.request` with
  `enableChunked`, fetch), while the one client that needs SSE, a browser's
  EventSource, always sends `Accept: text/event-stream` by itself. NDJSON has
  no heartbeat: a line that is not a JSON object would break strict readers.

A failure after the stream began is its last event, in the error shape of
every other answer: `event: error` with `{"error": {...}}` as its data (SSE),
or a `{"error": {...}}` line (NDJSON). SSE encoding is sse-starlette's
`ServerSentEvent`.
"""
from __future__ import annotations

from dataclasses import dataclass

from sse_starlette import ServerSentEvent

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
LINE_END = "\n"
HEARTBEAT = "keep-alive"


@dataclass(frozen=True, slots=True)
class Framing:
    """One way of writing events; `name` ("sse" or "ndjson") labels the access line."""

    name: str
    media_type: str
    retry_milliseconds: int = 0

    @property
    def is_sse(self) -> bool:
        return self.media_type == SSE

    def event(self, number: int, data: bytes) -> bytes:
        """Event `number` (1, 2, ...) carrying `data`, one line of JSON."""
        if not self.is_sse:
            return data + b"\n"
        retry = self.retry_milliseconds if number == 1 else None
        return ServerSentEvent(data.decode(), id=str(number), retry=retry, sep=LINE_END).encode()

    def error(self, number: int, body: bytes) -> bytes:
        """The last event: an error body (`errors.error_body`)."""
        if not self.is_sse:
            return body + b"\n"
        return ServerSentEvent(body.decode(), id=str(number), event="error", sep=LINE_END).encode()


def heartbeat() -> ServerSentEvent:
    return ServerSentEvent(comment=HEARTBEAT, sep=LINE_END)


def negotiate(accept: str | None, retry_milliseconds: int) -> Framing:
    """SSE when `accept` rates `text/event-stream` above zero and not below NDJSON; else NDJSON."""
    weights = _weights(accept or "")
    sse = weights.get(SSE, 0.0)
    if sse > 0 and sse >= weights.get(NDJSON, 0.0):
        return Framing("sse", SSE, retry_milliseconds)
    return Framing("ndjson", NDJSON)


def _weights(accept: str) -> dict[str, float]:
    """Media type -> its `q` (1 when absent, 0 when malformed) for the types `accept` names exactly."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media_type, *parameters = item.split(";")
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0
        key = media_type.strip().lower()
        weights[key] = max(weights.get(key, 0.0), weight)
    return weights
