"""A throwaway internal CA and its certificates, for development, tests and demonstrations.

    postcard-certs .state/tls gateway user-service postcard-service

writes one folder per identity in the layout of a Kubernetes TLS Secret made by cert-manager, so
the same settings point at it everywhere (`<folder>/<name>/tls.crt`, `tls.key`, `ca.crt`):

    .state/tls/ca.crt  ca.key
    .state/tls/gateway/tls.crt  tls.key  ca.crt
    .state/tls/user-service/...

Each certificate names its identity as its common name and DNS name, plus `localhost`,
`127.0.0.1` and `::1` (so that a local grpcurl verifies it), and any extra DNS names given as
`name=dns1,dns2`. Every certificate may serve and may be presented as a client: the internal hop is
mutual TLS, and one identity per program keeps it simple. Keys are EC P-256 (cheap handshakes) and
the key files are private to their owner (0600).

An existing folder is reused while its CA and every certificate asked for are valid for at least
another day and name what is asked; otherwise everything is issued again. Production certificates
come from the cluster's issuer (cert-manager, or any CA), never from here.
"""
from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "postcard internal CA (throwaway)"
LOCAL_NAMES = ("localhost",)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")
VALIDITY = datetime.timedelta(days=30)
RENEW_BEFORE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Identity:
    """A program's name on the internal hop, and the extra DNS names it answers to."""

    name: str
    dns_names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Identity:
        """`name` or `name=dns1,dns2`."""
        name, separator, extra = text.partition("=")
        dns_names = tuple(extra.split(",")) if separator else ()
        if not name or not all(dns_names):
            raise ValueError(f"expected NAME or NAME=DNS,DNS..., got {text!r}")
        return cls(name, dns_names)

    @property
    def all_dns_names(self) -> list[str]:
        return list(dict.fromkeys((self.name, *self.dns_names, *LOCAL_NAMES)))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key, now = _new_key(), _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    identity: Identity, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A certificate for `identity`, signed by the CA, usable as server and as client."""
    key, now = _new_key(), _now()
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in identity.all_dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in LOCAL_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(identity.name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    # Created with its final mode: a private key is never readable by others, even for a moment.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def _still_good(folder: Path, identities: Iterable[Identity]) -> bool:
    """The folder holds a CA and a certificate per identity, each valid for a while and naming what is asked."""
    try:
        ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
        certs = {i: x509.load_pem_x509_certificate((folder / i.name / "tls.crt").read_bytes()) for i in identities}
        if not (folder / "ca.key").exists() or not all((folder / i.name / "tls.key").exists() for i in certs):
            return False
    except (OSError, ValueError):
        return False
    horizon = _now() + RENEW_BEFORE
    for identity, cert in certs.items():
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if cert.issuer != ca.subject or set(identity.all_dns_names) - set(san.get_values_for_type(x509.DNSName)):
            return False
        if cert.not_valid_after_utc < horizon:
            return False
    return ca.not_valid_after_utc >= horizon


def ensure(folder: Path, identities: Sequence[Identity]) -> bool:
    """Make `folder` hold a valid CA and certificates for `identities`; True when new ones were issued."""
    if _still_good(folder, identities):
        return False
    ca_key, ca_cert = issue_ca()
    _write(folder / "ca.key", _key_pem(ca_key), private=True)
    _write(folder / "ca.crt", _pem(ca_cert))
    for identity in identities:
        key, cert = issue(identity, ca_key, ca_cert)
        _write(folder / identity.name / "tls.key", _key_pem(key), private=True)
        _write(folder / identity.name / "tls.crt", _pem(cert))
        _write(folder / identity.name / "ca.crt", _pem(ca_cert))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="postcard-certs",
        description="Issue a throwaway internal CA and a certificate per identity (development and tests only).",
    )
    parser.add_argument("folder", type=Path)
    parser.add_argument("identities", nargs="+", metavar="NAME[=DNS,DNS...]")
    args = parser.parse_args(argv)
    try:
        identities = [Identity.parse(text) for text in args.identities]
    except ValueError as error:
        parser.error(str(error))
    issued = ensure(args.folder, identities)
    print(f"{'issued' if issued else 'kept'} {args.folder}: CA and {', '.join(i.name for i in identities)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
