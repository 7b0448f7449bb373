"""SFTP sessions with a pinned host key: an unknown or changed key is refused, never accepted.

The Connection (type sftp) gives host, port, login and either a password or a private key
(extra ``private_key``, PEM/OpenSSH text, or ``key_file``), and the server's public host key
(extra ``host_key``: "ssh-ed25519 AAAA..." or just the base64 part).

A refused host key is one line saying which Connection, which server, the key it offered and
the key the Connection expects (as OpenSSH shows fingerprints), and what to do.
"""
from __future__ import annotations

import base64
import hashlib
import io
from contextlib import contextmanager
from typing import Iterator

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR, SFTPError

from ketenhub.connections import Endpoint


class HostKeyError(Exception):
    pass


def fingerprint(key: paramiko.PKey) -> str:
    """As ``ssh-keygen -l`` shows it: SHA256:<base64 without padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _where(endpoint: Endpoint) -> str:
    connection = endpoint.conn_id or "(no Connection id)"
    return f"SFTP Connection {connection}: server {endpoint.host or 'localhost'}:{endpoint.port or 22}"


def _host_key(endpoint: Endpoint) -> paramiko.PKey:
    text = (endpoint.extra.get("host_key") or "").strip()
    if not text:
        raise HostKeyError(f"{_where(endpoint)}: no host_key configured; the hub accepts no unknown host keys: "
                           "set the server's public key (ssh-keyscan -t ed25519 HOST, its fingerprint checked "
                           "with the partner) as extra host_key of the Connection")
    parts = text.split()
    key_type, b64 = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
    try:
        blob = base64.b64decode(b64, validate=True)
        # The key's own blob starts with its type, so the bare base64 part is enough.
        return paramiko.PKey.from_type_string(key_type or paramiko.Message(blob).get_text(), blob)
    except Exception:  # binascii.Error, UnknownKeyType, SSHException, ...: whatever it is, it is no key
        raise HostKeyError(f"{_where(endpoint)}: the extra host_key is not a public key "
                           "(expected 'ssh-ed25519 AAAA...' as ssh-keyscan writes it): fix the Connection") from None


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


def _refused(endpoint: Endpoint, offered: paramiko.PKey, expected: paramiko.PKey) -> HostKeyError:
    return HostKeyError(
        f"{_where(endpoint)} offered host key {offered.get_name()} {fingerprint(offered)}, but the Connection "
        f"expects {expected.get_name()} {fingerprint(expected)}: refused (changed host key). Ask the partner "
        "whether they changed the key and check the new fingerprint with them; only then put the new key in the "
        "Connection's extra host_key. Otherwise someone may be between the hub and the server.")


class _Pinned(paramiko.MissingHostKeyPolicy):
    def __init__(self, endpoint: Endpoint, expected: paramiko.PKey):
        self.endpoint, self.expected = endpoint, expected

    def missing_host_key(self, client, hostname, key):
        raise _refused(self.endpoint, key, self.expected)


@contextmanager
def session(endpoint: Endpoint, timeout: float = 30) -> Iterator[paramiko.SFTPClient]:
    expected = _host_key(endpoint)
    client = paramiko.SSHClient()
    host = endpoint.host or "localhost"
    port = endpoint.port or 22
    name = host if port == 22 else f"[{host}]:{port}"
    client.get_host_keys().add(name, expected.get_name(), expected)
    client.set_missing_host_key_policy(_Pinned(endpoint, expected))
    try:
        # paramiko asks first for the type of the key it knows, so a server with several keys shows that one.
        client.connect(host, port=port, username=endpoint.login, password=endpoint.password,
                       pkey=_private_key(endpoint), look_for_keys=False, allow_agent=False, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
    except paramiko.BadHostKeyException as e:
        client.close()
        raise _refused(endpoint, e.key, expected) from None
    except BaseException:
        client.close()
        raise
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout)
        yield sftp
    finally:
        client.close()


def listdir(sftp: paramiko.SFTPClient, path: str) -> list[paramiko.SFTPAttributes]:
    """``sftp.listdir_attr(path)``, but with each name as the server sent it, decoded with
    ``surrogateescape``: paramiko decodes names as strict UTF-8, so one name that is not UTF-8
    made the whole listing fail. Its own loop (paramiko 5.1's ``listdir_attr``), reading the names
    as bytes; the attributes are the server's lstat of each entry."""
    t, msg = sftp._request(CMD_OPENDIR, path)
    if t != CMD_HANDLE:
        raise SFTPError("Expected handle")
    handle = msg.get_binary()
    entries = []
    try:
        while True:
            try:
                t, msg = sftp._request(CMD_READDIR, handle)
            except EOFError:  # the end of the folder
                break
            if t != CMD_NAME:
                raise SFTPError("Expected name response")
            for _ in range(msg.get_int()):
                name = msg.get_string().decode("utf-8", "surrogateescape")
                msg.get_string()  # the long name, ls -l style
                attr = paramiko.SFTPAttributes._from_msg(msg, name)
                if name not in (".", ".."):
                    entries.append(attr)
    finally:
        sftp._request(CMD_CLOSE, handle)
    return entries
