"""CORS: Starlette's middleware, with a refused preflight in the common error shape.

Starlette answers a preflight it refuses (origin, method, headers or private network not
allowed) with `400 text/plain "Disallowed CORS origin"`. Here it is a 403 PERMISSION_DENIED
in the error shape: the request is well formed, the CORS policy refuses it. The preflight's
own headers (Vary, Access-Control-Allow-Methods, ...) are kept.
"""
from __future__ import annotations

import grpc
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from .errors import GatewayError, error_response

_REFUSAL_PREFIX = "Disallowed CORS "  # Starlette's text before the refused parts: "origin, method"


class CorsMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers=request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode("utf-8", "replace").removeprefix(_REFUSAL_PREFIX)
        headers = {
            name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")
        }
        message = f"CORS preflight refused: {refused} not allowed"
        return error_response(GatewayError(grpc.StatusCode.PERMISSION_DENIED, message, headers=headers))
