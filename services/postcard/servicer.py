"""The gRPC PostcardService: identity, validation, then the store — nothing else.

Every request has kept its contract's rules before a method runs (checked by
`services.common.validation`: INVALID_ARGUMENT with field violations). Every RPC
then resolves the caller (`Callers.require`: UNAUTHENTICATED without one valid
bearer token, nothing stored), then reads or writes via `PostcardStore` in a thread. Ownership: an id
that is unknown or belongs to someone else gets the same NOT_FOUND message, so
callers cannot probe for other users' ids. An idempotency key reused with a
different request body is FAILED_PRECONDITION with an ErrorInfo detail of reason
IDEMPOTENCY_KEY_REUSED (the original task is untouched). ListMyPostcards pages
(AIP-158, `pagetokens.py`); a page token not issued to the caller is INVALID_ARGUMENT
with a field violation of `page_token`. A create beyond a bound on unfinished tasks
(the caller's, or the whole queue's: admission control, `AdmissionSettings`) is
RESOURCE_EXHAUSTED with RetryInfo, QuotaFailure and ErrorInfo details (reason
TOO_MANY_UNFINISHED_TASKS or QUEUE_FULL), and writes nothing. A created task carries
the call's request id and traceparent to its worker (`TaskOrigin`).
WatchTaskStatus sends the task's status at once (or NOT_FOUND, before any
message), then each change from the process's `TaskWatcher`, and ends after a
terminal status; UNAVAILABLE when the server stops first.
Any unexpected exception becomes INTERNAL "internal error"; details are logged.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import grpc
from google.api import httpbody_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from postcardapp.gateway.v1 import options_pb2
from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc
from services.common.identity import IDEMPOTENCY_KEY_METADATA, Callers, metadata_value
from services.common.rpc import Context, guarded, guarded_stream
from services.common.status import (
    IDEMPOTENCY_KEY_REUSED,
    Refusal,
    abort_invalid_field,
    abort_refused,
    abort_with_reason,
)
from services.common.tracing import TRACEPARENT_METADATA, traceparent_to_hand_on
from services.postcard.artwork import image_url
from services.postcard.model import TaskOrigin
from services.postcard.pagetokens import PageTokenError, PageTokens
from services.postcard.settings import AdmissionSettings
from services.postcard.store import AdmissionRefused, IdempotencyConflict, PostcardRecord, PostcardStore, TaskView
from services.postcard.validation import normalise_create, validate_idempotency_key
from services.postcard.watch import TaskWatcher, WatchClosed
from telemetry.context import current_request_id

log = logging.getLogger(__name__)

INVALID_PAGE_TOKEN = "not a page token issued to this caller"


def _pagination(method: str) -> options_pb2.Pagination:
    """The page sizes the contract declares for a list method (documented by the gateway, applied here)."""
    descriptor = pb.DESCRIPTOR.services_by_name["PostcardService"].methods_by_name[method]
    policy: options_pb2.MethodPolicy = descriptor.GetOptions().Extensions[options_pb2.policy]  # type: ignore[index]
    return policy.pagination


LIST_PAGING = _pagination("ListMyPostcards")
TASK_NOT_FOUND = "task not found"
POSTCARD_NOT_FOUND = "postcard not found"
WATCH_INTERVAL_SECONDS = 0.5  # of a servicer built without a watcher (tests); the server passes its setting


class PostcardServicer(pb_grpc.PostcardServiceServicer):
    """PostcardService over a `PostcardStore`; `callers` names the caller of each call; `page_tokens` issues and reads
    ListMyPostcards' page tokens; `on_task_created` hears of each new task (metrics, embedded workers); `watcher`
    serves WatchTaskStatus."""

    def __init__(
        self,
        store: PostcardStore,
        callers: Callers,
        page_tokens: PageTokens,
        on_task_created: Callable[[], None] | None = None,
        admission: AdmissionSettings | None = None,
        watcher: TaskWatcher | None = None,
    ) -> None:
        self._store = store
        self._callers = callers
        self._page_tokens = page_tokens
        self._admission = admission or AdmissionSettings()
        self._on_task_created = on_task_created or (lambda: None)
        self._watcher = watcher or TaskWatcher(store, WATCH_INTERVAL_SECONDS)

    @guarded
    async def CreatePostcard(self, request: pb.CreatePostcardRequest, context: Context) -> pb.CreatePostcardResponse:
        user_id = await self._callers.require(context)
        key = validate_idempotency_key(metadata_value(context, IDEMPOTENCY_KEY_METADATA))
        postcard_request = normalise_create(request)
        origin = TaskOrigin(current_request_id(), traceparent_to_hand_on(metadata_value(context, TRACEPARENT_METADATA)))
        try:
            task_id, created = await asyncio.to_thread(self._store.create_task, user_id, postcard_request, key, origin)
        except IdempotencyConflict:
            await abort_with_reason(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{IDEMPOTENCY_KEY_METADATA} was already used with a different request",
                IDEMPOTENCY_KEY_REUSED,
            )
        except AdmissionRefused as refused:
            log.info("task refused", extra={"user_id": user_id, "bound": refused.bound, "limit": refused.limit})
            await abort_refused(context, _refusal(refused, user_id, self._admission))
        log.info("task accepted", extra={"task_id": task_id, "user_id": user_id, "idempotent": key is not None,
                                         "new_task": created})
        if created:
            self._on_task_created()
        return pb.CreatePostcardResponse(task_id=task_id)

    @guarded
    async def GetTaskStatus(self, request: pb.GetTaskStatusRequest, context: Context) -> pb.GetTaskStatusResponse:
        return _status(await self._own_task(request.task_id, context))

    @guarded_stream
    async def WatchTaskStatus(
        self, request: pb.WatchTaskStatusRequest, context: Context
    ) -> AsyncIterator[pb.GetTaskStatusResponse]:
        task = await self._own_task(request.task_id, context)
        yield _status(task)
        try:
            async for view in self._watcher.follow(task):
                yield _status(view)
        except WatchClosed:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the service is stopping: watch again")

    @guarded
    async def ListMyPostcards(self, request: pb.ListMyPostcardsRequest, context: Context) -> pb.ListMyPostcardsResponse:
        user_id = await self._callers.require(context)
        after = None
        if request.page_token:
            try:
                after = self._page_tokens.read(user_id, request.page_token)
            except PageTokenError:
                await abort_invalid_field(context, "page_token", INVALID_PAGE_TOKEN, "page_token.issued")
        size = min(request.page_size or LIST_PAGING.default_page_size, LIST_PAGING.max_page_size)
        records, last = await asyncio.to_thread(self._store.list_postcards, user_id, size, after)
        next_page = self._page_tokens.issue(user_id, last) if last is not None else ""
        return pb.ListMyPostcardsResponse(postcards=[_summary(record) for record in records], next_page_token=next_page)

    @guarded
    async def GetPostcard(self, request: pb.GetPostcardRequest, context: Context) -> pb.GetPostcardResponse:
        user_id = await self._callers.require(context)
        record = await asyncio.to_thread(self._store.postcard, user_id, request.postcard_id)
        if record is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, POSTCARD_NOT_FOUND)
        return pb.GetPostcardResponse(postcard=_postcard(record))

    @guarded
    async def GetPostcardImage(self, request: pb.GetPostcardImageRequest, context: Context) -> httpbody_pb2.HttpBody:
        user_id = await self._callers.require(context)
        image = await asyncio.to_thread(self._store.image, user_id, request.postcard_id)
        if image is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, POSTCARD_NOT_FOUND)
        return httpbody_pb2.HttpBody(content_type="image/svg+xml", data=image)

    async def _own_task(self, task_id: str, context: Context) -> TaskView:
        """The caller's task; aborts with NOT_FOUND when it is unknown or someone else's."""
        user_id = await self._callers.require(context)
        task = await asyncio.to_thread(self._store.task, user_id, task_id)
        if task is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, TASK_NOT_FOUND)
        return task


def _status(task: TaskView) -> pb.GetTaskStatusResponse:
    if task.status == "completed" and task.postcard is not None:
        return pb.GetTaskStatusResponse(status="completed", data=_postcard(task.postcard))
    if task.status == "failed":
        return pb.GetTaskStatusResponse(status="failed", error=task.error or "generation failed")
    # Queued, being generated, or (never expected) completed without a postcard: still processing.
    return pb.GetTaskStatusResponse(status="processing")


# AdmissionRefused.bound -> (ErrorInfo reason, QuotaFailure subject, message)
_REFUSALS = {
    "user": ("TOO_MANY_UNFINISHED_TASKS", "user:{user_id}",
             "too many postcards being made for you: at most {limit} at a time; try again when one is finished"),
    "queue": ("QUEUE_FULL", "service:postcard-queue",
              "too many postcards being made right now: at most {limit} at a time; try again later"),
}


def _refusal(refused: AdmissionRefused, user_id: str, admission: AdmissionSettings) -> Refusal:
    reason, subject, message = _REFUSALS[refused.bound]
    return Refusal(reason=reason, subject=subject.format(user_id=user_id), message=message.format(limit=refused.limit),
                   retry_after_seconds=admission.retry_after_seconds, metadata={"limit": str(refused.limit)})


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def _postcard(record: PostcardRecord) -> pb.Postcard:
    return pb.Postcard(
        postcard_id=record.postcard_id,
        task_id=record.task_id,
        frontend_code=record.frontend_code,
        image_url=image_url(record.postcard_id),
        mood=record.mood,
        style=record.style,
        theme=record.theme,
        recipient=record.recipient,
        message=record.message,
        created_at=_timestamp(record.created_at),
    )


def _summary(record: PostcardRecord) -> pb.PostcardSummary:
    return pb.PostcardSummary(
        postcard_id=record.postcard_id,
        image_url=image_url(record.postcard_id),
        mood=record.mood,
        style=record.style,
        theme=record.theme,
        created_at=_timestamp(record.created_at),
    )
