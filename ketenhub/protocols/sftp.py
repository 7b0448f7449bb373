"""SFTP sessions with a pinned host key: an unknown or changed key is refused, never accepted.

The Connection (type sftp) gives host, port, login and either a password or a private key
(extra ``private_key``, PEM/OpenSSH text, or ``key_file``), and the server's public host key
(extra ``host_key``: "ssh-ed25519 AAAA..." or just the base64 part).
"""
from __future__ import annotations

import base64
import io
from contextlib import contextmanager
from typing import Iterator

import paramiko

from ketenhub.connections import Endpoint


class HostKeyError(Exception):
    pass


def _host_key(endpoint: Endpoint) -> paramiko.PKey:
    text = (endpoint.extra.get("host_key") or "").strip()
    if not text:
        raise HostKeyError(f"no host_key configured for SFTP server {endpoint.host}:{endpoint.port}: the hub "
                           "accepts no unknown host keys; set the server's public key in the Connection's extra")
    parts = text.split()
    key_type, b64 = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
    blob = base64.b64decode(b64)
    # The key's own blob starts with its type, so the bare base64 part is enough.
    return paramiko.PKey.from_type_string(key_type or paramiko.Message(blob).get_text(), blob)


def _private_key(endpoint: Endpoint) -> paramiko.PKey | None:
    text = endpoint.extra.get("private_key")
    path = endpoint.extra.get("key_file")
    if text:
        for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
            try:
                return kind.from_private_key(io.StringIO(text))
            except paramiko.SSHException:
                continue
        raise paramiko.SSHException("the Connection's private_key is not an Ed25519, ECDSA or RSA key")
    if path:
        return paramiko.PKey.from_path(path)
    return None


class _Pinned(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise HostKeyError(f"SFTP server {hostname} presented a {key.get_name()} host key "
                           f"(SHA256:{key.fingerprint.split(':', 1)[-1]}) that is not the configured one: "
                           "refused (unknown or changed host key)")


@contextmanager
def session(endpoint: Endpoint, timeout: float = 30) -> Iterator[paramiko.SFTPClient]:
    expected = _host_key(endpoint)
    client = paramiko.SSHClient()
    host = endpoint.host or "localhost"
    port = endpoint.port or 22
    name = host if port == 22 else f"[{host}]:{port}"
    client.get_host_keys().add(name, expected.get_name(), expected)
    client.set_missing_host_key_policy(_Pinned())
    try:
        # paramiko asks first for the type of the key it knows, so a server with several keys shows that one.
        client.connect(host, port=port, username=endpoint.login, password=endpoint.password,
                       pkey=_private_key(endpoint), look_for_keys=False, allow_agent=False, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
    except paramiko.BadHostKeyException as e:
        client.close()
        raise HostKeyError(f"SFTP server {host}:{port} presented a different host key than configured: "
                           "refused (changed host key)") from e
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout)
        yield sftp
    finally:
        client.close()
