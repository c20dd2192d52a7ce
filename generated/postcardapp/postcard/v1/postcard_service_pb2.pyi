import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from postcardapp.gateway.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreatePostcardRequest(_message.Message):
    __slots__ = ("mood", "style", "theme", "recipient", "message")
    MOOD_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    THEME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    mood: str
    style: str
    theme: str
    recipient: str
    message: str
    def __init__(self, mood: _Optional[str] = ..., style: _Optional[str] = ..., theme: _Optional[str] = ..., recipient: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CreatePostcardResponse(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskStatusRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class WatchTaskStatusRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskStatusResponse(_message.Message):
    __slots__ = ("status", "error", "data")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    status: str
    error: str
    data: Postcard
    def __init__(self, status: _Optional[str] = ..., error: _Optional[str] = ..., data: _Optional[_Union[Postcard, _Mapping]] = ...) -> None: ...

class ListMyPostcardsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMyPostcardsResponse(_message.Message):
    __slots__ = ("postcards", "next_page_token")
    POSTCARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    postcards: _containers.RepeatedCompositeFieldContainer[PostcardSummary]
    next_page_token: str
    def __init__(self, postcards: _Optional[_Iterable[_Union[PostcardSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPostcardRequest(_message.Message):
    __slots__ = ("postcard_id",)
    POSTCARD_ID_FIELD_NUMBER: _ClassVar[int]
    postcard_id: str
    def __init__(self, postcard_id: _Optional[str] = ...) -> None: ...

class GetPostcardResponse(_message.Message):
    __slots__ = ("postcard",)
    POSTCARD_FIELD_NUMBER: _ClassVar[int]
    postcard: Postcard
    def __init__(self, postcard: _Optional[_Union[Postcard, _Mapping]] = ...) -> None: ...

class GetPostcardImageRequest(_message.Message):
    __slots__ = ("postcard_id",)
    POSTCARD_ID_FIELD_NUMBER: _ClassVar[int]
    postcard_id: str
    def __init__(self, postcard_id: _Optional[str] = ...) -> None: ...

class Postcard(_message.Message):
    __slots__ = ("postcard_id", "task_id", "frontend_code", "image_url", "mood", "style", "theme", "recipient", "message", "created_at")
    POSTCARD_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    FRONTEND_CODE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    MOOD_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    THEME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    postcard_id: str
    task_id: str
    frontend_code: str
    image_url: str
    mood: str
    style: str
    theme: str
    recipient: str
    message: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, postcard_id: _Optional[str] = ..., task_id: _Optional[str] = ..., frontend_code: _Optional[str] = ..., image_url: _Optional[str] = ..., mood: _Optional[str] = ..., style: _Optional[str] = ..., theme: _Optional[str] = ..., recipient: _Optional[str] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostcardSummary(_message.Message):
    __slots__ = ("postcard_id", "image_url", "mood", "style", "theme", "created_at")
    POSTCARD_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    MOOD_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    THEME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    postcard_id: str
    image_url: str
    mood: str
    style: str
    theme: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, postcard_id: _Optional[str] = ..., image_url: _Optional[str] = ..., mood: _Optional[str] = ..., style: _Optional[str] = ..., theme: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
