"""The gRPC methods of postcardapp.user.v1.UserService.

Requests have kept their contract's rules before a method runs (`services.common.validation`:
INVALID_ARGUMENT with field violations). Each method calls the collaborators and maps their
outcomes to gRPC status codes here, in one place. Anything unexpected becomes INTERNAL "internal
error": the client never sees a stack trace, an exception text or a SQL message; the details go to
the log.
"""
from __future__ import annotations

import asyncio
import logging

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from postcardapp.user.v1 import user_service_pb2 as pb
from postcardapp.user.v1 import user_service_pb2_grpc as pb_grpc
from services.common.identity import Callers
from services.common.rpc import Context, guarded
from services.user.store import UserStore
from services.user.tokens import TokenIssuer
from services.user.wechat import CodeRejected, WeChatLogin, WeChatUnavailable

log = logging.getLogger(__name__)


class UserServicer(pb_grpc.UserServiceServicer):
    def __init__(self, wechat: WeChatLogin, store: UserStore, tokens: TokenIssuer, callers: Callers) -> None:
        self._callers = callers
        self._wechat = wechat
        self._store = store
        self._tokens = tokens

    @guarded
    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        """Code -> WeChat open_id -> user (created on first login) -> token.

        A code breaking its rules (blank, over 256 characters: wx.login() codes are 32) never gets
        here, so it is never sent to WeChat. Code refused by WeChat: UNAUTHENTICATED. WeChat
        unreachable, slow or busy: UNAVAILABLE. No user is stored unless WeChat accepted the code.
        """
        code = request.code.strip()
        try:
            session = await self._wechat.code_to_session(code)
        except CodeRejected as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except WeChatUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

        user, created = await asyncio.to_thread(self._store.get_or_create, session.open_id)
        token = self._tokens.issue(user.user_id)
        log.info("login", extra={"user_id": user.user_id, "is_new_user": created})
        # is_new_user has explicit presence: set even when False, so the client always sees it.
        return pb.LoginResponse(token=token, is_new_user=created)

    @guarded
    async def GetMe(self, request: pb.GetMeRequest, context: Context) -> pb.GetMeResponse:
        """The caller's profile. No valid bearer token: UNAUTHENTICATED; unknown user: NOT_FOUND."""
        user_id = await self._callers.require(context)
        user = await asyncio.to_thread(self._store.get, user_id)
        if user is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "user not found")
        assert user is not None  # abort raises
        created_at = Timestamp()
        created_at.FromDatetime(user.created_at)
        return pb.GetMeResponse(
            user_id=user.user_id, nickname=user.nickname, avatar_url=user.avatar_url, created_at=created_at
        )
