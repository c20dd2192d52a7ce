"""The JSON shape of a JWT's registered claims, checked by type, not just by presence.

PyJWT coerces with `int()`, so on its own it takes `"exp": true` or `"iat": "123"`; and it
accepts any string as `sub`. A token whose claims have the wrong JSON type is refused (401)
with a message naming the claim; absent claims are left to PyJWT's `require` option.

`sub` is the user id the gateway passes downstream as `x-user-id` metadata. The user-service
issues `str(uuid.uuid4())`; the gateway accepts any id of 1-128 characters from
`[A-Za-z0-9._:@-]` (UUIDs, ULIDs, numbers, `prefix:id`, e-mail-like ids), nothing with
whitespace or other punctuation.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

SUBJECT_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf")


class ClaimError(ValueError):
    """A claim has the wrong type or form; the message names it and is safe to show."""


def check_claim_types(claims: Mapping[str, Any]) -> None:
    """Raise ClaimError for the first registered claim with a wrong type (a null counts as absent)."""
    sub = claims.get("sub")
    if sub is not None and not (isinstance(sub, str) and SUBJECT_PATTERN.fullmatch(sub)):
        raise ClaimError("invalid subject")
    for name in NUMERIC_DATE_CLAIMS:
        value = claims.get(name)
        if value is not None and not is_json_number(value):
            raise ClaimError(f"invalid {name} claim: must be a number")
    iss = claims.get("iss")
    if iss is not None and not isinstance(iss, str):
        raise ClaimError("invalid iss claim: must be a string")
    aud = claims.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud))
    ):
        raise ClaimError("invalid aud claim: must be a string or a list of strings")
    jti = claims.get("jti")
    if jti is not None and not isinstance(jti, str):
        raise ClaimError("invalid jti claim: must be a string")


def is_json_number(value: object) -> bool:
    """A finite JSON number: int or float, never a bool (a subclass of int) or NaN/Infinity."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
