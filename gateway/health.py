"""Kubernetes-style health endpoints in Spring Boot Actuator's shapes, from what the gateway already knows.

    GET /actuator/health            every upstream service: its endpoints' health and breakers
    GET /actuator/health/liveness   the process answers (never depends on a downstream service)
    GET /actuator/health/readiness  ready to take traffic: started, not draining, every required
                                    service has an endpoint in rotation

No probe makes a downstream call: they report the health watchers' last word
and the breakers' state, so they are cheap enough for every kubelet period.
They are not behind authentication or rate limits. 200 when UP, 503 when DOWN.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response

from .lifecycle import Lifecycle
from .settings import UpstreamSettings
from .upstream.client import Upstream
from .upstream.picker import eligible

Status = Literal["UP", "DOWN"]


class EndpointHealth(BaseModel):
    target: str
    status: str  # SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN (not reported yet) or UNREACHABLE
    breaker: Literal["closed", "open", "half_open"]


class ComponentDetails(BaseModel):
    service: str  # the full gRPC service name
    required: bool  # whether readiness depends on it
    endpoints: list[EndpointHealth]


class Component(BaseModel):
    status: Status
    details: ComponentDetails


class Health(BaseModel):
    status: Status
    components: dict[str, Component]


class Probe(BaseModel):
    status: Status


class ReadinessDetails(BaseModel):
    phase: Literal["starting", "ready", "draining", "stopped"]
    unavailable: list[str]  # required components with no endpoint in rotation


class Readiness(BaseModel):
    status: Status
    details: ReadinessDetails


def component_name(service: str) -> str:
    """ "postcardapp.user.v1.UserService" -> "user-service" """
    return re.sub(r"(?<!^)(?=[A-Z])", "-", service.rpartition(".")[2]).lower()


class HealthReport:
    def __init__(self, upstream: Upstream, settings: Mapping[str, UpstreamSettings], lifecycle: Lifecycle) -> None:
        self._upstream = upstream
        self._settings = settings
        self._lifecycle = lifecycle

    def health(self) -> Health:
        components = {}
        for service, pool in self._upstream.pools.items():
            endpoints = pool.endpoints
            components[component_name(service)] = Component(
                status="UP" if eligible(endpoints) else "DOWN",
                details=ComponentDetails(
                    service=service,
                    required=self._settings[service].required,
                    endpoints=[EndpointHealth(target=e.target, status=e.status, breaker=e.breaker.state)
                               for e in endpoints],
                ),
            )
        up = all(component.status == "UP" for component in components.values())
        return Health(status="UP" if up else "DOWN", components=components)

    def readiness(self) -> Readiness:
        unavailable = [
            component_name(service)
            for service, pool in self._upstream.pools.items()
            if self._settings[service].required and not eligible(pool.endpoints)
        ]
        phase = self._lifecycle.phase
        ready = phase == "ready" and not unavailable
        return Readiness(status="UP" if ready else "DOWN", details=ReadinessDetails(phase=phase,
                                                                                    unavailable=unavailable))


def install_health(app: FastAPI, report: HealthReport) -> None:
    """Add the three endpoints (documented in the OpenAPI under the tag "actuator")."""
    responses: dict[int | str, dict[str, Any]] = {503: {"description": "DOWN (same body)"}}

    @app.get("/actuator/health", tags=["actuator"], response_model=Health, responses=responses,
             summary="Health of every upstream service")
    async def health() -> Response:
        return _answer(report.health())

    @app.get("/actuator/health/liveness", tags=["actuator"], response_model=Probe,
             summary="Liveness: the process and its event loop answer")
    async def liveness() -> Response:
        return _answer(Probe(status="UP"))

    @app.get("/actuator/health/readiness", tags=["actuator"], response_model=Readiness, responses=responses,
             summary="Readiness: started, not draining, every required service reachable")
    async def readiness() -> Response:
        return _answer(report.readiness())


def _answer(body: Health | Probe | Readiness) -> Response:
    return Response(
        orjson.dumps(body.model_dump()),
        status_code=200 if body.status == "UP" else 503,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )
