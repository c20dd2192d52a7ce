"""The internal hop's TLS: every process's certificate, key and the internal CA, as gRPC credentials.

The gateway and the services talk mutual TLS: a service accepts a connection only from a client
presenting a certificate the internal CA signed, and the gateway accepts a service only with one.
Plaintext is possible only with `insecure_plaintext=true`, which is for local development and
tests of other things; without it and without the three files a program refuses to start.

Services pick up renewed files without a restart: the server credentials are dynamic and look at
the files' modification times before each new connection's handshake (a renewal by cert-manager
or by hand takes effect for new connections; a half-written renewal keeps the previous pair).
The gateway reads its client certificate at start: restart it to roll a new one.
"""
from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, model_validator

log = logging.getLogger(__name__)


class TlsError(Exception):
    """The TLS files are missing, unreadable or do not belong together; the message names the file."""


class InternalTls(BaseModel):
    """This process's identity on the internal hop (mutual TLS), or plaintext for development."""

    # The variable prefix of this model in its program's environment, for error messages.
    ENV_PREFIX: ClassVar[str] = "TLS__"

    # This process's certificate (PEM; a chain, leaf first) and its private key (PEM).
    cert_file: Path | None = None
    key_file: Path | None = None
    # The internal CA (PEM): a peer must present a certificate it signed.
    ca_file: Path | None = None
    # Development only: no TLS at all on the internal hop.
    insecure_plaintext: bool = False

    @model_validator(mode="after")
    def _tls_or_explicit_plaintext(self) -> InternalTls:
        prefix = self.ENV_PREFIX
        files = (self.cert_file, self.key_file, self.ca_file)
        if self.insecure_plaintext:
            if any(f is not None for f in files):
                raise ValueError(f"{prefix}INSECURE_PLAINTEXT=true and TLS files are both set: choose one")
        elif any(f is None for f in files):
            raise ValueError(
                f"the internal hop is mutual TLS: set {prefix}CERT_FILE, {prefix}KEY_FILE and {prefix}CA_FILE "
                f"(postcard-certs makes throwaway ones), or {prefix}INSECURE_PLAINTEXT=true for local development"
            )
        return self

    def load(self) -> TlsFiles | None:
        """The files, read and checked (TlsError naming the bad one); None when plaintext."""
        if self.insecure_plaintext:
            return None
        assert self.cert_file is not None and self.key_file is not None and self.ca_file is not None
        files = TlsFiles(self.cert_file, self.key_file, self.ca_file)
        files.read()
        return files


@dataclass(frozen=True)
class TlsPair:
    """One consistent reading of the files."""

    cert_chain: bytes
    key: bytes
    ca: bytes


@dataclass
class TlsFiles:
    cert_file: Path
    key_file: Path
    ca_file: Path

    def read(self) -> TlsPair:
        """The three files, checked to be PEM and the key to match the certificate; TlsError otherwise."""
        cert_chain, key, ca = (_read(path) for path in (self.cert_file, self.key_file, self.ca_file))
        try:
            leaf = x509.load_pem_x509_certificate(cert_chain)
        except ValueError:
            raise TlsError(f"{self.cert_file}: not a PEM certificate") from None
        try:
            x509.load_pem_x509_certificates(ca)
        except ValueError:
            raise TlsError(f"{self.ca_file}: not a PEM certificate") from None
        try:
            private = load_pem_private_key(key, password=None)
        except (ValueError, TypeError):
            raise TlsError(f"{self.key_file}: not an unencrypted PEM private key") from None
        if private.public_key() != leaf.public_key():
            raise TlsError(f"{self.key_file} is not the key of {self.cert_file}")
        return TlsPair(cert_chain, key, ca)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """For the gateway's channels: verify the service against the CA, present this certificate."""
        pair = self.read()
        return grpc.ssl_channel_credentials(root_certificates=pair.ca, private_key=pair.key,
                                            certificate_chain=pair.cert_chain)

    def server_credentials(self) -> grpc.ServerCredentials:
        """For a service's port: this certificate, clients must present one the CA signed; renewals picked up."""
        return _RenewingServerCredentials(self).credentials()

    def ssl_server_context(self) -> ssl.SSLContext:
        """For a plain HTTPS port of a service (its public keys): this certificate, no client certificate asked."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def stamp(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path in (self.cert_file, self.key_file, self.ca_file):
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)


class _RenewingServerCredentials:
    """Dynamic server credentials that re-read the files when they change (checked per new connection)."""

    def __init__(self, files: TlsFiles) -> None:
        self._files = files
        self._lock = threading.Lock()  # gRPC calls the fetcher from its own threads
        self._stamp = files.stamp()
        self._pair = files.read()

    def credentials(self) -> grpc.ServerCredentials:
        # grpc-stubs type the fetcher without its documented None ("no change").
        return grpc.dynamic_ssl_server_credentials(
            _configuration(self._pair), self._fetch, require_client_authentication=True  # type: ignore[arg-type]
        )

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            try:
                stamp = self._files.stamp()
                if stamp == self._stamp:
                    return None
                pair = self._files.read()
            except (OSError, TlsError) as error:
                # Mid-rotation (a file written, the next not yet): keep serving with the previous pair.
                log.warning("TLS files changed but are not usable yet; keeping the previous ones: %s", error)
                return None
            self._stamp, self._pair = stamp, pair
            log.info("TLS certificate renewed from %s", self._files.cert_file)
            return _configuration(pair)


def _configuration(pair: TlsPair) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(pair.key, pair.cert_chain)], root_certificates=pair.ca)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsError(f"{path}: {error.strerror or error}") from None
