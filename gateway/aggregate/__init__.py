"""Hand-written composed endpoints: what the contract cannot express (one answer from several calls).

`fanout.py` runs the calls at once and handles a failing part; `composed.py`
gives a handler the same stages as a contract route; each endpoint is a short
module (`home.py`). `install_aggregates` adds them all to the FastAPI app.
"""
from __future__ import annotations

from fastapi import FastAPI

from .composed import Composer
from .home import HOME_ROUTE, install_home

# Route names settable in GATEWAY_RATE_LIMIT__ROUTES beside gRPC method names ("gateway." is theirs).
ROUTE_NAMESPACE = "gateway"
ROUTE_NAMES = frozenset({HOME_ROUTE})


def install_aggregates(app: FastAPI, composer: Composer) -> None:
    install_home(app, composer)
