"""Where the gateway process is in its life: starting -> ready -> draining -> stopped.

Readiness reports it (DOWN unless `ready`); the pipeline asks clients to close
their keep-alive connections while draining, so that they reconnect elsewhere.
"""
from __future__ import annotations

import logging
from typing import Literal

log = logging.getLogger(__name__)

Phase = Literal["starting", "ready", "draining", "stopped"]


class Lifecycle:
    def __init__(self) -> None:
        self.phase: Phase = "starting"

    @property
    def draining(self) -> bool:
        return self.phase == "draining"

    def ready(self) -> None:
        self._move("ready")

    def drain(self) -> None:
        if self.phase in ("starting", "ready"):
            self._move("draining")

    def stopped(self) -> None:
        self._move("stopped")

    def _move(self, phase: Phase) -> None:
        if phase != self.phase:
            log.info("gateway %s", phase, extra={"from": self.phase})
            self.phase = phase
