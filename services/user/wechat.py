"""WeChat login: exchange a mini-program ``code`` for the user's ``open_id``.

Two implementations of one small interface (``WeChatLogin.code_to_session``):

- ``HttpWeChat`` calls ``GET {base_url}/sns/jscode2session`` with one long-lived httpx client.
- ``DevFakeWeChat`` (development only) makes no HTTP call and maps any code to a stable open_id.

Outcomes: a ``WeChatSession``, or ``CodeRejected`` (the code is invalid, used or the user is
blocked: the caller must log in again) or ``WeChatUnavailable`` (WeChat is busy, unreachable, slow
or answered nonsense: retry later). The appid, the secret and WeChat's ``session_key`` never reach a
log line or an exception message: the session key is dropped on arrival, the request URL (which
carries the secret) is never formatted, and httpx's own request log is redacted.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from services.user.settings import WeChatSettings

log = logging.getLogger(__name__)

# The code is wrong, already used, or WeChat blocks this user ("high risk"): log in again.
CODE_ERRORS = {40029: "invalid code", 40163: "code been used", 40226: "high risk user"}
# WeChat is overloaded: system busy, rate limit reached.
BUSY_ERRORS = {-1: "system busy", 45011: "rate limit"}


@dataclass(frozen=True, slots=True)
class WeChatSession:
    """Who logged in. WeChat's session_key is deliberately not kept: nothing here needs it."""

    open_id: str
    union_id: str | None = None


class CodeRejected(Exception):
    """WeChat refused the code; the message is safe to show to the client."""


class WeChatUnavailable(Exception):
    """WeChat could not answer usefully; the message is safe to show to the client."""


class WeChatLogin(Protocol):
    async def code_to_session(self, code: str) -> WeChatSession: ...

    async def aclose(self) -> None: ...


class HttpWeChat:
    """The real exchange over HTTP. One client, reused by all calls; close it with ``aclose``.

    No retries: a code is single-use, so repeating a call whose answer was lost would be refused as
    "code been used". Each exchange is bounded by ``timeout_seconds`` as a whole, not just per
    connect/read phase. WeChat answers JSON with ``Content-Type: text/plain``, so the body is parsed
    whatever the content type says.
    """

    def __init__(self, settings: WeChatSettings) -> None:
        self._appid = settings.appid
        self._secret = settings.secret.get_secret_value()
        self._timeout = settings.timeout_seconds
        self._client = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.timeout_seconds),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": "postcardapp-user-service"},
        )
        _redact_httpx_request_log()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def code_to_session(self, code: str) -> WeChatSession:
        params = {"appid": self._appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"}
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.get("/sns/jscode2session", params=params)
        except (httpx.HTTPError, TimeoutError) as exc:
            # Only the exception's type: its text or its request may carry the URL, hence the secret.
            log.warning("WeChat jscode2session failed", extra={"error": type(exc).__name__})
            raise WeChatUnavailable("WeChat login is unavailable, try again later") from None
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> WeChatSession:
        if response.status_code != 200:
            log.warning("WeChat jscode2session answered HTTP %d", response.status_code)
            raise WeChatUnavailable("WeChat login is unavailable, try again later")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            log.warning("WeChat jscode2session answered something other than a JSON object")
            raise WeChatUnavailable("WeChat login is unavailable, try again later")

        errcode = body.get("errcode") or 0
        if not isinstance(errcode, int):
            log.warning("WeChat jscode2session answered a non-numeric errcode")
            raise WeChatUnavailable("WeChat login is unavailable, try again later")
        if errcode in CODE_ERRORS:
            log.info("WeChat rejected a login code", extra={"errcode": errcode})
            raise CodeRejected(f"WeChat rejected the login code ({CODE_ERRORS[errcode]})")
        if errcode in BUSY_ERRORS:
            log.warning("WeChat is busy", extra={"errcode": errcode})
            raise WeChatUnavailable("WeChat login is busy, try again later")
        if errcode:
            # Most likely our own configuration (40013 invalid appid, 40125 invalid secret).
            log.error(
                "WeChat refused the exchange; check the appid and secret settings",
                extra={"errcode": errcode, "errmsg": self._redact(str(body.get("errmsg", "")))[:200]},
            )
            raise WeChatUnavailable("WeChat login is unavailable, try again later")

        open_id = body.get("openid")
        if not isinstance(open_id, str) or not open_id:
            log.warning("WeChat jscode2session answered without an openid")
            raise WeChatUnavailable("WeChat login is unavailable, try again later")
        union_id = body.get("unionid")
        return WeChatSession(open_id=open_id, union_id=union_id if isinstance(union_id, str) else None)

    def _redact(self, text: str) -> str:
        for value in (self._secret, self._appid):
            if value:
                text = text.replace(value, "***")
        return text


class DevFakeWeChat:
    """Development stand-in: no HTTP; any code maps to ``"dev-" + sha256(code)[:16]``.

    The same code always gives the same user, so a developer can "log in as" a name. Codes are not
    single-use. Never enable it where real users log in: anyone could be anyone.
    """

    async def code_to_session(self, code: str) -> WeChatSession:
        return WeChatSession(open_id=dev_open_id(code))

    async def aclose(self) -> None:
        return None


def dev_open_id(code: str) -> str:
    """The open_id that ``DevFakeWeChat`` gives to ``code``."""
    return "dev-" + hashlib.sha256(code.encode()).hexdigest()[:16]


def create_wechat_login(settings: WeChatSettings) -> WeChatLogin:
    """The configured implementation; warns loudly when the development fake is on."""
    if settings.dev_fake:
        log.warning(
            "WeChat dev_fake mode is ON: any login code is accepted without asking WeChat. "
            "Development only (USER_SERVICE_WECHAT__DEV_FAKE=true)."
        )
        return DevFakeWeChat()
    return HttpWeChat(settings)


class _RedactQuery(logging.Filter):
    """Strips the query (appid, secret, code) from URLs in httpx's "HTTP Request: ..." log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(arg.copy_with(query=None) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def _redact_httpx_request_log() -> None:
    # httpx logs every request's full URL at INFO; ours carries the secret. Installed once.
    logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _RedactQuery) for existing in logger.filters):
        logger.addFilter(_RedactQuery())
