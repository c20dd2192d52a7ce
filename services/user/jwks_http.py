"""The user-service's public keys over HTTP(S): `GET /.well-known/jwks.json`.

Gateways and the postcard-service on other machines cannot read the JWKS file; they fetch this
document instead (`GATEWAY_AUTH__JWKS_URL`, `POSTCARD_SERVICE_AUTH__JWKS_URL`) and refresh it, so
that a new signing key reaches every verifier without a redeploy. Off by default:
`USER_SERVICE_JWKS_PORT` turns it on (0: any free port, logged). With the internal hop on TLS it is
HTTPS with the service's own certificate (verifiers check it with `..._AUTH__JWKS_CA_FILE`): who can
swap the keys in transit can forge any token. It is the standard library's WSGI server, one thread
per connection: one small document, fixed for the process's life (keys change with a restart),
answered with a cache lifetime shorter than the verifiers' refresh.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from services.common.http_endpoint import ThreadedHttpEndpoint

log = logging.getLogger(__name__)

PATH = "/.well-known/jwks.json"
_CACHE = "public, max-age=60"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    timeout = 10  # seconds a connection may stay silent (its TLS handshake included)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("jwks request: " + format, *args)


class JwksEndpoint(ThreadedHttpEndpoint):

    @classmethod
    async def start(
        cls, document: bytes, host: str, port: int, variable: str, tls: ssl.SSLContext | None = None
    ) -> JwksEndpoint:
        """Serve `document` on host:port (HTTPS with `tls`); OSError naming the address and `variable` if taken."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "not found"}']
            start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", _CACHE),
                                      ("Content-Length", str(len(document)))])
            return [document]

        try:
            server = await asyncio.to_thread(make_server, host, port, app, server_class=_ThreadingServer,
                                             handler_class=_Quiet)
        except OSError as exc:
            raise OSError(f"could not serve the JWKS on {host}:{port} (address in use or not available; "
                          f"set {variable})") from exc
        if tls is not None:
            # The handshake happens in the connection's own thread, at its first read: a client that never
            # completes one holds only that thread, for `_Quiet.timeout` at most.
            server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        thread = threading.Thread(target=server.serve_forever, name="jwks-http", daemon=True)
        thread.start()
        endpoint = cls(server, thread)
        log.info("serving the JWKS", extra={"host": host, "jwks_port": endpoint.port, "path": PATH})
        return endpoint
