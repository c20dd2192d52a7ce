"""postcard-certs: the folder layout, the names in the certificates, private keys, reuse and renewal."""
from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from trust.certs import Identity, ensure


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_command_writes_a_ca_and_a_secret_shaped_folder_per_identity(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "trust.certs", str(tmp_path), "gateway",
                             "postcard-service=postcard-service.default.svc,postcard-service.default"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "issued" in result.stdout
    ca = certificate(tmp_path / "ca.crt")
    for name in ("gateway", "postcard-service"):
        folder = tmp_path / name
        assert (folder / "ca.crt").read_bytes() == (tmp_path / "ca.crt").read_bytes()
        assert stat.S_IMODE((folder / "tls.key").stat().st_mode) == 0o600
        leaf = certificate(folder / "tls.crt")
        leaf.verify_directly_issued_by(ca)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {name, "localhost"} <= set(names.get_values_for_type(x509.DNSName))
        assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")} <= set(
            names.get_values_for_type(x509.IPAddress))
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {u.dotted_string for u in usages} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}  # server, client
    service = certificate(tmp_path / "postcard-service" / "tls.crt")
    assert "postcard-service.default.svc" in service.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_a_valid_folder_is_kept_and_a_new_identity_or_a_lost_file_issues_again(tmp_path: Path) -> None:
    assert ensure(tmp_path, [Identity("gateway")]) is True
    first = (tmp_path / "ca.crt").read_bytes()
    assert ensure(tmp_path, [Identity("gateway")]) is False
    assert (tmp_path / "ca.crt").read_bytes() == first
    assert ensure(tmp_path, [Identity("gateway"), Identity("user-service")]) is True
    assert (tmp_path / "ca.crt").read_bytes() != first
    (tmp_path / "gateway" / "tls.key").unlink()
    assert ensure(tmp_path, [Identity("gateway")]) is True


@pytest.mark.parametrize("text", ["", "=x", "name=", "name=a,,b"])
def test_malformed_identities_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected NAME"):
        Identity.parse(text)


def test_the_command_refuses_a_malformed_identity(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "trust.certs", str(tmp_path), "name="],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "expected NAME" in result.stderr
    assert not (tmp_path / "ca.crt").exists()
