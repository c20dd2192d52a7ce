"""A fake of WeChat's ``jscode2session`` login API: a real HTTP server on 127.0.0.1.

It runs in a background thread, so it serves any event loop, thread or subprocess, and stopping it
really closes the port (no keep-alive: HTTP/1.0, one request per connection). Use it as a context
manager or call ``start``/``stop``::

    with FakeWeChat() as wechat:
        code = wechat.issue_code()            # what wx.login() would hand the mini-program
        settings.wechat.base_url = wechat.base_url   # with wechat.appid / wechat.secret

It behaves like the real API where tests care: answers are HTTP 200 with a JSON body served as
``text/plain`` (as WeChat does); a code issued by ``issue_code`` works once and then answers
``40163 code been used``; an unknown code answers ``40029 invalid code``; a wrong appid or secret
answers ``40013``/``40125``. Failure injection: ``delay_seconds`` (slow WeChat), ``reply_with``
(any status and body for every request, e.g. ``errcode -1``, HTTP 502 or HTML), ``stop`` (WeChat
down). ``accept_any_code`` maps every unknown code to a stable open_id, for end-to-end tests that
log in with made-up codes. ``requests`` records the query of each request received.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

PATH = "/sns/jscode2session"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    open_id: str
    union_id: str | None


@dataclass(frozen=True, slots=True)
class CannedReply:
    status: int
    body: bytes
    content_type: str = "text/plain"


def open_id_for_code(code: str) -> str:
    """The open_id ``accept_any_code`` gives to a code it has not issued: stable per code."""
    return "o" + hashlib.sha256(code.encode()).hexdigest()[:27]


class FakeWeChat:
    """A WeChat login API on ``base_url``; thread-safe; reusable across tests only via new instances."""

    def __init__(self, *, appid: str = "wx-fake-appid", secret: str = "fake-app-secret", host: str = "127.0.0.1"):
        self.appid = appid
        self.secret = secret
        self.delay_seconds = 0.0
        self.accept_any_code = False
        self._host = host
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._codes: dict[str, IssuedCode] = {}
        self._used: set[str] = set()
        self._requests: list[dict[str, str]] = []
        self._session_keys: list[str] = []
        self._reply: CannedReply | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle.

    def start(self) -> Self:
        """Listen on a free port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeWeChat already started")
        self._stopping.clear()
        self._server = _Server((self._host, 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wechat", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port; requests still sleeping in ``delay_seconds`` are dropped unanswered. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()  # also waits for the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # What the tests arrange and inspect.

    def issue_code(self, open_id: str | None = None, *, union_id: str | None = None) -> str:
        """A fresh single-use login code for ``open_id`` (default: a new user), like wx.login()."""
        code = secrets.token_hex(16)  # wx.login() codes are 32 characters too
        with self._lock:
            self._codes[code] = IssuedCode(open_id or "o" + secrets.token_urlsafe(20)[:27], union_id)
        return code

    def open_id_of(self, code: str) -> str:
        """The open_id a code logs in as (issued, or derived when ``accept_any_code`` is on)."""
        with self._lock:
            issued = self._codes.get(code)
        return issued.open_id if issued else open_id_for_code(code)

    def reply_with(self, *, status: int = 200, json_body: Any = None, body: bytes | None = None) -> None:
        """Answer every request with this until ``clear_reply``: a JSON value, or raw bytes."""
        raw = body if body is not None else json.dumps(json_body).encode()
        with self._lock:
            self._reply = CannedReply(status, raw)

    def reply_with_error(self, errcode: int, errmsg: str) -> None:
        """Answer every request with WeChat's error shape, HTTP 200 (as WeChat does)."""
        self.reply_with(json_body=_error(errcode, errmsg))

    def clear_reply(self) -> None:
        with self._lock:
            self._reply = None

    @property
    def requests(self) -> list[dict[str, str]]:
        """The query parameters of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def session_keys(self) -> list[str]:
        """Every session_key handed out: secrets that must never appear in the service's logs."""
        with self._lock:
            return list(self._session_keys)

    # Serving (handler threads).

    def _answer(self, path: str, query: dict[str, str]) -> CannedReply | None:
        with self._lock:
            self._requests.append(query)
        if self.delay_seconds and self._stopping.wait(self.delay_seconds):
            return None  # stopped while "slow": drop the connection unanswered
        with self._lock:
            if self._reply is not None:
                return self._reply
            if path != PATH:
                return CannedReply(404, b"not found")
            return _json(self._session(query))

    def _session(self, query: dict[str, str]) -> dict[str, Any]:
        # Called with the lock held.
        if query.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        if query.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        if query.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        code = query.get("js_code", "")
        issued = self._codes.get(code)
        if issued is None and self.accept_any_code and code:
            issued = IssuedCode(open_id_for_code(code), None)
        elif issued is None:
            return _error(40029, "invalid code")
        elif code in self._used:
            return _error(40163, "code been used")
        else:
            self._used.add(code)
        session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        self._session_keys.append(session_key)
        answer = {"openid": issued.open_id, "session_key": session_key}
        if issued.union_id:
            answer["unionid"] = issued.union_id
        return answer


def _error(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{errmsg}, rid: {secrets.token_hex(4)}"}


def _json(answer: dict[str, Any]) -> CannedReply:
    return CannedReply(200, json.dumps(answer).encode())


class _Server(ThreadingHTTPServer):
    # Join handler threads on close, so nothing outlives stop().
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], fake: FakeWeChat) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: stop() leaves no live connection
    timeout = 5  # a client that connects and sends nothing cannot hold stop() forever

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        reply = self.server.fake._answer(url.path, query)
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", f"{reply.content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests inspect `requests` instead
