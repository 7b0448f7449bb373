"""A test PKI for the simulators, in the shape of PKIoverheid: a CA of its own, made at first
start in a folder (keys 0600, folder 0700), server certificates for 127.0.0.1 and localhost and
client certificates, each with its party's OIN in the subject's serialNumber.

The simulators serve two-way TLS with it; ``Pki.connection_extra`` is what a hub's Connection
needs to reach them: the CA to check the server with and the hub's client certificate and key,
as PEM text."""
from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ketenhub.settings import HUB_OIN

VALID = datetime.timedelta(days=3 * 365)


def _name(common_name: str, oin: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ketenhub test PKI"),
                  x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if oin:  # where PKIoverheid puts a party's OIN
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, oin))
    return x509.Name(attributes)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)  # also when the file was already there


class Pki:
    """The test CA in ``folder`` (made when missing) and the certificates it issues there:
    ``<name>.pem`` and ``<name>.key``, made once and reused."""

    def __init__(self, folder: Path, name: str = "Ketenhub test CA"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.lock = threading.Lock()
        self.ca_file, ca_key = self.folder / "ca.pem", self.folder / "ca.key"
        if not (self.ca_file.exists() and ca_key.exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            name = _name(name)
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + VALID)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                   critical=True)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .sign(key, hashes.SHA256()))
            write_secret(ca_key, _key_pem(key))
            self.ca_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.ca_key = serialization.load_pem_private_key(ca_key.read_bytes(), None)
        self.ca_cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())

    @property
    def ca_pem(self) -> str:
        return self.ca_file.read_text()

    def issue(self, name: str, oin: str | None, server: bool = False, signing: bool = False) -> tuple[Path, Path]:
        """The certificate and key files of ``name``: a server certificate for 127.0.0.1 and
        localhost, a client certificate, or (``signing``) an RSA certificate for XML signatures
        (WS-Security signs with RSA-SHA256); made when missing."""
        cert_file, key_file = self.folder / f"{name}.pem", self.folder / f"{name}.key"
        with self.lock:
            if cert_file.exists() and key_file.exists():
                return cert_file, key_file
            key = rsa.generate_private_key(65537, 2048) if signing else ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc)
            builder = (x509.CertificateBuilder().subject_name(_name(name, oin)).issuer_name(self.ca_cert.subject)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + VALID)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                             else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                                      critical=False))
            if signing:
                builder = builder.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                                              False), critical=True)
            if server:
                builder = builder.add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            cert = builder.sign(self.ca_key, hashes.SHA256())
            write_secret(key_file, _key_pem(key))
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            return cert_file, key_file

    def client(self, oin: str = HUB_OIN) -> tuple[Path, Path]:
        """A client certificate with ``oin`` (by default the hub's)."""
        return self.issue(f"client-{oin}", oin)

    def signing(self, oin: str) -> tuple[Path, Path]:
        """The RSA certificate with ``oin`` that a party signs its SOAP messages with."""
        return self.issue(f"signing-{oin}", oin, signing=True)

    def server_context(self, oin: str | None) -> ssl.SSLContext:
        """Two-way TLS as a Digikoppeling service serves it: a client certificate signed by this
        CA is required."""
        cert_file, key_file = self.issue(f"server-{oin or 'simulator'}", oin, server=True)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca_file))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(cert_file, key_file)
        return context

    def connection_extra(self, oin: str = HUB_OIN) -> dict:
        """A Connection's TLS fields for a hub with ``oin``: the CA and the client certificate and
        key, as PEM text (a Connection keeps secrets better than a path on some disk)."""
        cert_file, key_file = self.client(oin)
        return {"ca_pem": self.ca_pem, "cert_pem": cert_file.read_text(), "key_pem": key_file.read_text()}


_default: Pki | None = None
_default_lock = threading.Lock()


def default_pki() -> Pki:
    """One throw-away test CA per process, for simulators started without a folder of their own
    (the tests)."""
    global _default
    with _default_lock:
        if _default is None:
            folder = tempfile.mkdtemp(prefix="ketenhub-pki-")
            atexit.register(shutil.rmtree, folder, True)
            _default = Pki(Path(folder))
        return _default
