"""A throwaway certificate authority and server certificate for serving HTTPS (`--tls-dir`).

Made fresh for every run, so nothing secret is ever committed. The CA goes to DIR/ca.crt (PEM) and
DIR/ca.b64 (base64 of that PEM, which is what an EKS cluster's `certificateAuthority.data` holds and what a
kubeconfig's `certificate-authority-data` takes). The server certificate names 127.0.0.1, ::1 and localhost as
subjectAltNames, which is what rustls and Go's crypto/x509 check (they ignore the common name).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=2)
_BACKDATE = datetime.timedelta(minutes=5)  # tolerate a client clock slightly behind


@dataclass(frozen=True)
class ServerCredentials:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fakekube (tests only)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate() -> ServerCredentials:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("fakekube test CA")
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (x509.CertificateBuilder()
            .subject_name(_name("kube-apiserver")).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE).not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ServerCredentials(
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()))


def _write_atomically(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def publish(credentials: ServerCredentials, directory: Path) -> None:
    """Write ca.crt and ca.b64 for clients (the server's own key never leaves memory and a temp file)."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomically(directory / "ca.crt", credentials.ca_pem)
    _write_atomically(directory / "ca.b64", base64.b64encode(credentials.ca_pem) + b"\n")


def server_context(credentials: ServerCredentials) -> ssl.SSLContext:
    """TLS 1.2+ with the generated chain; `load_cert_chain` reads files only, so they live in a private temp
    directory for the moment it takes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="fakekube-tls-") as private:
        chain, key = Path(private) / "server.crt", Path(private) / "server.key"
        chain.write_bytes(credentials.cert_pem + credentials.ca_pem)
        key.touch(mode=0o600)
        key.write_bytes(credentials.key_pem)
        context.load_cert_chain(chain, key)
    return context
