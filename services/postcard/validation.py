"""Input rules of postcard-service: what a valid request, id and idempotency key are.

Rules (lengths in characters, after stripping surrounding whitespace, which is
also what gets stored):

- mood, style: required, 1-50; theme: required, 1-200;
  recipient: optional, at most 50; message: optional, at most 500.
- No control characters, except tab and line breaks in `message`: the text is
  drawn into an SVG (XML 1.0 cannot carry most control characters, even escaped)
  and single-line fields have no use for them.
- Task and postcard ids: non-blank, at most 64 characters. Their format is not
  checked further: an id that looks wrong is simply NOT_FOUND, like any unknown id.
- Idempotency key: when present, 1-200 characters.

Every violation raises `InvalidArgument` naming the field, before anything is stored.
"""
from __future__ import annotations

import unicodedata

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from services.common import rpc
from services.postcard.model import PostcardRequest

MAX_ID_LENGTH = 64
MAX_IDEMPOTENCY_KEY_LENGTH = 200

# field -> (required, max length); the limits documented in postcard_service.proto.
FIELD_LIMITS: dict[str, tuple[bool, int]] = {
    "mood": (True, 50),
    "style": (True, 50),
    "theme": (True, 200),
    "recipient": (False, 50),
    "message": (False, 500),
}
_MULTILINE_FIELDS = {"message"}
_MULTILINE_ALLOWED = {"\t", "\n", "\r"}


class InvalidArgument(rpc.InvalidArgument):
    """A request field breaks a rule; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def validate_create(request: pb.CreatePostcardRequest) -> PostcardRequest:
    """The normalised request, or `InvalidArgument` for the first field (in proto order) that is wrong."""
    values: dict[str, str] = {}
    for field, (required, max_length) in FIELD_LIMITS.items():
        value = getattr(request, field).strip()
        if required and not value:
            raise InvalidArgument(field, "is required")
        if len(value) > max_length:
            raise InvalidArgument(field, f"must be at most {max_length} characters (got {len(value)})")
        allowed = _MULTILINE_ALLOWED if field in _MULTILINE_FIELDS else set()
        if any(_is_control(char) and char not in allowed for char in value):
            raise InvalidArgument(field, "must not contain control characters")
        values[field] = value
    return PostcardRequest(**values)


def validate_id(field: str, value: str) -> str:
    """A task or postcard id as given; blank or longer than 64 characters is `InvalidArgument`."""
    if not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_ID_LENGTH} characters")
    return value


def validate_idempotency_key(value: str | None) -> str | None:
    """The key (None when the metadata is absent); blank or longer than 200 characters is `InvalidArgument`."""
    if value is None:
        return None
    if not value.strip():
        raise InvalidArgument("idempotency-key", "must not be blank")
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument("idempotency-key", f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return value


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls; Cs: lone surrogates; plus the two XML-forbidden noncharacters.
    return unicodedata.category(char) in ("Cc", "Cs") or char in ("\ufffe", "\uffff")
