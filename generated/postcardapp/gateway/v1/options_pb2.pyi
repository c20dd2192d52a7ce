import datetime

from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCESS_UNSPECIFIED: _ClassVar[Access]
    ACCESS_PUBLIC: _ClassVar[Access]
    ACCESS_AUTHENTICATED: _ClassVar[Access]

class Fallback(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FALLBACK_UNSPECIFIED: _ClassVar[Fallback]
    FALLBACK_CACHED_OR_EMPTY: _ClassVar[Fallback]
ACCESS_UNSPECIFIED: Access
ACCESS_PUBLIC: Access
ACCESS_AUTHENTICATED: Access
FALLBACK_UNSPECIFIED: Fallback
FALLBACK_CACHED_OR_EMPTY: Fallback
POLICY_FIELD_NUMBER: _ClassVar[int]
policy: _descriptor.FieldDescriptor

class MethodPolicy(_message.Message):
    __slots__ = ("access", "success_status", "timeout", "idempotent", "fallback", "request_headers", "response_media_type", "pagination")
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGINATION_FIELD_NUMBER: _ClassVar[int]
    access: Access
    success_status: int
    timeout: _duration_pb2.Duration
    idempotent: bool
    fallback: Fallback
    request_headers: _containers.RepeatedCompositeFieldContainer[RequestHeader]
    response_media_type: str
    pagination: Pagination
    def __init__(self, access: _Optional[_Union[Access, str]] = ..., success_status: _Optional[int] = ..., timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., idempotent: _Optional[bool] = ..., fallback: _Optional[_Union[Fallback, str]] = ..., request_headers: _Optional[_Iterable[_Union[RequestHeader, _Mapping]]] = ..., response_media_type: _Optional[str] = ..., pagination: _Optional[_Union[Pagination, _Mapping]] = ...) -> None: ...

class Pagination(_message.Message):
    __slots__ = ("next_page_token_field", "page_token_field", "page_size_field", "default_page_size", "max_page_size")
    NEXT_PAGE_TOKEN_FIELD_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    next_page_token_field: str
    page_token_field: str
    page_size_field: str
    default_page_size: int
    max_page_size: int
    def __init__(self, next_page_token_field: _Optional[str] = ..., page_token_field: _Optional[str] = ..., page_size_field: _Optional[str] = ..., default_page_size: _Optional[int] = ..., max_page_size: _Optional[int] = ...) -> None: ...

class RequestHeader(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...
