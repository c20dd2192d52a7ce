"""What postcard-service makes of a request once its contract's rules are kept.

The rules of the request messages (lengths, required fields, no blank or control characters) are
declared in postcard_service.proto as `buf.validate` annotations and checked for every call before
its handler runs (`services.common.validation`). What is left here:

- Normalising a create: surrounding whitespace is removed from every field, and that is what is
  stored and drawn (the rules count characters as sent).
- The idempotency key, which is metadata, not a message field: when present, 1-200 characters,
  not blank; anything else is `InvalidArgument` before anything is stored.
"""
from __future__ import annotations

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from services.common import rpc
from services.postcard.model import PostcardRequest

MAX_IDEMPOTENCY_KEY_LENGTH = 200


class InvalidArgument(rpc.InvalidArgument):
    """Metadata breaks a rule; the message names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def normalise_create(request: pb.CreatePostcardRequest) -> PostcardRequest:
    """The request's fields without surrounding whitespace (it keeps its rules: a required field is not blank)."""
    return PostcardRequest(
        mood=request.mood.strip(),
        style=request.style.strip(),
        theme=request.theme.strip(),
        recipient=request.recipient.strip(),
        message=request.message.strip(),
    )


def validate_idempotency_key(value: str | None) -> str | None:
    """The key (None when the metadata is absent); blank or longer than 200 characters is `InvalidArgument`."""
    if value is None:
        return None
    if not value.strip():
        raise InvalidArgument("idempotency-key", "must not be blank")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument("idempotency-key", f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return value
