"""The domain type of the user-service: a user, as the store keeps it and the servicer shows it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    user_id: str  # ours (a UUID4), the JWT subject; never WeChat's open_id
    open_id: str  # WeChat's identifier of the user for this mini-program
    nickname: str
    avatar_url: str
    created_at: datetime  # timezone-aware, UTC
