"""The webhook server's TLS certificate: a mounted Secret's files, or one generated at start-up.

A generated certificate is self-signed (it is its own CA, handed to the API server as `caBundle`) and
lives as long as the process. It suits one replica: replicas generating their own would each publish a
different CA bundle, so several replicas need a shared certificate (`--webhook-cert-dir`).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE, KEY_FILE, CA_FILE = "tls.crt", "tls.key", "ca.crt"
GENERATED_VALIDITY = datetime.timedelta(days=365)


class CertificateError(RuntimeError):
    """The certificate folder lacks a file the webhook server needs."""


@dataclass(frozen=True)
class ServingCertificate:
    cert_file: Path
    key_file: Path
    # The CA the API server must trust; None when the certificate is its own (self-signed).
    ca_file: Path | None = None

    def ca_bundle(self) -> bytes:
        """The PEM the webhook configuration's `caBundle` carries."""
        return (self.ca_file or self.cert_file).read_bytes()


def load_certificate_dir(folder: Path) -> ServingCertificate:
    """`tls.crt`, `tls.key` and the optional `ca.crt`, as a `kubernetes.io/tls` Secret mounts them."""
    for required in (CERT_FILE, KEY_FILE):
        if not (folder / required).is_file():
            raise CertificateError(f"--webhook-cert-dir {folder}: {required} is missing")
    ca = folder / CA_FILE
    return ServingCertificate(folder / CERT_FILE, folder / KEY_FILE, ca if ca.is_file() else None)


def generate_self_signed(folder: Path, hostnames: Sequence[str]) -> ServingCertificate:
    """Write a self-signed certificate valid for `hostnames` (DNS names or IP addresses) into `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A minute of slack for clocks that disagree with ours.
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + GENERATED_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hostnames]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / CERT_FILE, folder / KEY_FILE
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ServingCertificate(cert_file, key_file)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
