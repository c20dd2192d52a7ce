"""The light-load baseline: one `grpc.aio` GetPostcard at a time, straight to the stub backend.

    python -m bench.direct_client --backend HOST:PORT --seconds S

What the gateway's light-load p50 is compared with: the same call the gateway
makes, from a Python client on the same event loop implementation (uvloop),
one call in flight, timed around each `await` with `perf_counter_ns`. The
first calls (connection set-up, warm-up) are not counted. Prints one JSON line
on stdout: calls, p50/p99 in ms, and this process's CPU time per call (all
threads, `time.process_time`), i.e. what the client side of one call costs.
"""
from __future__ import annotations

import argparse
import json
import time

import grpc
import uvloop

from postcardapp.postcard.v1 import postcard_service_pb2 as pb
from postcardapp.postcard.v1 import postcard_service_pb2_grpc as pb_grpc

from .stub_backend import POSTCARD_ID

WARM_UP_CALLS = 200


def percentile(sorted_values: list[int], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def measure(backend: str, seconds: float, token: str) -> dict[str, float]:
    async with grpc.aio.insecure_channel(backend) as channel:
        get_postcard = pb_grpc.PostcardServiceStub(channel).GetPostcard
        request = pb.GetPostcardRequest(postcard_id=POSTCARD_ID)
        metadata = (("authorization", f"Bearer {token}"),)
        for _ in range(WARM_UP_CALLS):
            await get_postcard(request, metadata=metadata)
        latencies: list[int] = []
        cpu_start, start = time.process_time(), time.monotonic()
        end = start + seconds
        while time.monotonic() < end:
            before = time.perf_counter_ns()
            await get_postcard(request, metadata=metadata)
            latencies.append(time.perf_counter_ns() - before)
        cpu = time.process_time() - cpu_start
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": time.monotonic() - start,
        "p50_ms": percentile(latencies, 0.50) / 1e6,
        "p99_ms": percentile(latencies, 0.99) / 1e6,
        "cpu_us_per_request": cpu * 1e6 / len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.direct_client", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True, help="host:port of the stub backend")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--token", required=True, help="a bearer token the stub backend accepts")
    args = parser.parse_args()
    print(json.dumps(uvloop.run(measure(args.backend, args.seconds, args.token))), flush=True)


if __name__ == "__main__":
    main()
