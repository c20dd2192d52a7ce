"""The AI-workflow stand-in: moderation, a (simulated) generation delay, then rendering.

`generate` never blocks the event loop: the delay is `asyncio.sleep` and the
rendering runs in a thread. Moderation rejects a request when any configured
blocked word appears as a whole word (case-insensitive) in any text field;
that is a final, user-visible failure (`ContentRejected`), not a retry.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import fields

from services.postcard.artwork import Artwork, render
from services.postcard.model import PostcardRequest
from services.postcard.settings import GeneratorSettings


class ContentRejected(Exception):
    """Moderation refused the request; `str(error)` is the reason shown to the user."""


class PostcardGenerator:
    """Turns a validated request into an `Artwork`, as the AI agent would."""

    def __init__(self, settings: GeneratorSettings) -> None:
        self._delay = settings.delay_seconds
        # Whole words only: "scam" must not reject "scampi".
        self._blocked = [
            re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word in settings.blocked_words
        ]

    def moderate(self, request: PostcardRequest) -> None:
        """Raise `ContentRejected` naming the first field with a blocked word (not the word itself)."""
        for field in fields(request):
            text = getattr(request, field.name)
            for pattern in self._blocked:
                if pattern.search(text):
                    raise ContentRejected(f"content rejected by moderation: {field.name} contains a blocked word")

    async def generate(self, request: PostcardRequest, image_url: str) -> Artwork:
        """Moderate, wait the configured delay, render. Cancellation-safe (nothing is written here)."""
        self.moderate(request)
        await asyncio.sleep(self._delay)
        return await asyncio.to_thread(render, request, image_url)
