"""Per-method RPC handles: what the upstream layer needs to call one gRPC method, built once.

A handle names the method (service and gRPC path), its message classes and the
gateway policy its contract declares (`postcardapp.gateway.v1.policy`). Nothing
about HTTP is needed to make a call: contract routes hold a handle, and
hand-written handlers (aggregation) look one up by full method name and get the
same picking, breaker, deadline, retry, fallback and metadata. A server-streaming
method has a handle too (`server_streaming`), opened with `Upstream.open_stream`;
client- and bidirectional-streaming methods have none.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from postcardapp.gateway.v1 import options_pb2


class UnknownServiceError(KeyError):
    """A configured service is not in the imported contracts."""


@dataclass(frozen=True, slots=True)
class Pagination:
    """The contract's `pagination`: field names and page sizes of a paged list (checked in transcode/paging.py)."""

    next_page_token_field: str
    page_token_field: str
    page_size_field: str  # "" when the method takes no page size
    default_page_size: int
    max_page_size: int

    @classmethod
    def of(cls, option: options_pb2.Pagination) -> Pagination:
        return cls(option.next_page_token_field, option.page_token_field, option.page_size_field,
                   option.default_page_size, option.max_page_size)


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    """Our method option, with its defaults applied."""

    public: bool
    success_status: int
    timeout_seconds: float | None  # None: the service's default deadline
    idempotent: bool  # safe to retry on another endpoint
    fallback_cached_or_empty: bool
    request_headers: tuple[tuple[str, str], ...] = ()  # (name, description) of headers the method reads
    response_media_type: str | None = None  # of a google.api.HttpBody response, when the contract says
    pagination: Pagination | None = None  # of a paged list (AIP-158)

    @classmethod
    def of(cls, method: MethodDescriptor) -> MethodPolicy:
        policy: options_pb2.MethodPolicy = method.GetOptions().Extensions[options_pb2.policy]  # type: ignore[index]
        timeout = policy.timeout.ToTimedelta().total_seconds() if policy.HasField("timeout") else None
        return cls(
            # ACCESS_UNSPECIFIED is authenticated: a forgotten option never opens a route.
            public=policy.access == options_pb2.ACCESS_PUBLIC,
            success_status=policy.success_status or 200,
            timeout_seconds=timeout,
            idempotent=policy.idempotent,
            fallback_cached_or_empty=policy.fallback == options_pb2.FALLBACK_CACHED_OR_EMPTY,
            request_headers=tuple((header.name, header.description) for header in policy.request_headers),
            response_media_type=policy.response_media_type or None,
            pagination=Pagination.of(policy.pagination) if policy.HasField("pagination") else None,
        )


@dataclass(frozen=True, slots=True, eq=False)
class Rpc:
    """One unary or server-streaming gRPC method, ready to call: identity is by object (one handle per method)."""

    service: str  # full service name: the key of its upstream pool
    name: str  # method name
    path: str  # "/package.Service/Method", as sent on the wire
    request_class: type[Message]
    response_class: type[Message]
    policy: MethodPolicy
    descriptor: MethodDescriptor
    server_streaming: bool = False  # answers with a stream of response messages

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.name}"

    @classmethod
    def of(cls, service: str, method: MethodDescriptor) -> Rpc:
        return cls(
            service=service,
            name=method.name,
            path=f"/{service}/{method.name}",
            request_class=message_factory.GetMessageClass(method.input_type),
            response_class=message_factory.GetMessageClass(method.output_type),
            policy=MethodPolicy.of(method),
            descriptor=method,
            server_streaming=method.server_streaming,
        )


class RpcCatalog:
    """Every unary and server-streaming method of the configured services, by full name ("pkg.Service.Method")."""

    def __init__(self, service_names: Iterable[str]) -> None:
        pool = descriptor_pool.Default()
        self._handles: dict[str, Rpc] = {}
        self.services: list[ServiceDescriptor] = []
        for service_name in service_names:
            try:
                service = pool.FindServiceByName(service_name)
            except KeyError:
                raise UnknownServiceError(service_name) from None
            self.services.append(service)
            for method in service.methods:
                if not method.client_streaming:
                    handle = Rpc.of(service_name, method)
                    self._handles[handle.full_name] = handle

    def __getitem__(self, full_name: str) -> Rpc:
        """The handle of a method; KeyError names the method when the configured services have no such handle."""
        try:
            return self._handles[full_name]
        except KeyError:
            raise KeyError(f"no unary or server-streaming RPC {full_name!r} in the configured services") from None

    def __contains__(self, full_name: object) -> bool:
        return full_name in self._handles

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._handles.values())
