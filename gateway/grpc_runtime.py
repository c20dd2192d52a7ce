"""How the gateway runs grpc: its EventEngine client off (`python -m gateway` applies this before grpc loads).

grpc reads GRPC_EXPERIMENTS when it initialises, so this must run before anything imports grpc, and this
module imports nothing that does. Without the EventEngine client, grpc.aio's calls are served by the
poller thread's own endpoints instead of hopping to the EventEngine's threads: measured 25-30 us less CPU
per call on one core, pinned or not (docs/benchmarks.md). A GRPC_EXPERIMENTS already set wins (an empty
value keeps grpc's defaults).
"""
from __future__ import annotations

import os

GRPC_EXPERIMENTS = "-event_engine_client"


def configure_grpc() -> None:
    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
