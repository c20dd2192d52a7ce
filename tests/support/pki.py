"""The internal hop's certificates for tests: one throwaway CA per session (trust.certs), a folder per identity.

    pki / "gateway" / "tls.crt" ...        the layout of a cert-manager Secret
    tls_env(pki, "gateway", "GATEWAY_UPSTREAM_TLS__")   the three variables a program reads
"""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from trust.certs import Identity, ensure
from trust.tls import InternalTls, TlsFiles

T = TypeVar("T", bound=InternalTls)
IDENTITIES = ("gateway", "user-service", "postcard-service", "developer")


def make_pki(folder: Path) -> Path:
    ensure(folder, [Identity(name) for name in IDENTITIES])
    return folder


def tls_env(pki: Path, name: str, prefix: str) -> dict[str, str]:
    return {f"{prefix}CERT_FILE": str(pki / name / "tls.crt"), f"{prefix}KEY_FILE": str(pki / name / "tls.key"),
            f"{prefix}CA_FILE": str(pki / name / "ca.crt")}


def tls_settings(pki: Path, name: str, model: type[T]) -> T:
    return model(cert_file=pki / name / "tls.crt", key_file=pki / name / "tls.key", ca_file=pki / name / "ca.crt")


def tls_files(pki: Path, name: str) -> TlsFiles:
    return TlsFiles(pki / name / "tls.crt", pki / name / "tls.key", pki / name / "ca.crt")
