"""An SFTP server (paramiko) over a local folder, for the OM's outbox and CJIB's inbox.

It has its own host key (give its public half to the hub's Connection), accepts one user by
password or public key, and can be told to drop the connection in the middle of a transfer
or to refuse logins."""
from __future__ import annotations

import errno
import os
import socket
import stat
import threading
from pathlib import Path

import paramiko
from paramiko import SFTPAttributes, SFTPHandle, SFTPServer, SFTPServerInterface
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED


class SftpSimulator:
    def __init__(self, root: Path, user: str = "ketenhub", password: str | None = None,
                 authorized_key: paramiko.PKey | None = None, port: int = 0):
        self.root = Path(root).resolve()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)  # a partner's files: personal data
        self.user, self.password, self.authorized_key = user, password, authorized_key
        self.host_key = paramiko.ECDSAKey.generate()
        self.drop_after_bytes: int | None = None  # drop the next transfer after this many bytes
        self.fail_logins = 0
        self.list_also: list[str] = []  # names a broken or hostile server lists besides its files
        self.transferred = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def host_key_line(self) -> str:
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def start(self) -> "SftpSimulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        self.sock.close()

    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", SFTPServer, _Folder, sim=self, transport=transport)
        try:
            transport.start_server(server=_Auth(self))
        except (paramiko.SSHException, EOFError, OSError):
            return

    def count(self, n: int, transport: paramiko.Transport) -> None:
        """Called per chunk transferred; drops the connection when told to."""
        with self.lock:
            self.transferred += n
            if self.drop_after_bytes is not None:
                self.drop_after_bytes -= n
                if self.drop_after_bytes <= 0:
                    self.drop_after_bytes = None
                    transport.close()
                    raise EOFError("connection dropped (simulated)")


class _Auth(paramiko.ServerInterface):
    def __init__(self, sim: SftpSimulator):
        self.sim = sim

    def _allowed(self, username: str) -> bool:
        with self.sim.lock:
            if self.sim.fail_logins > 0:
                self.sim.fail_logins -= 1
                return False
        return username == self.sim.user

    def check_auth_password(self, username, password):
        ok = self.sim.password is not None and password == self.sim.password and self._allowed(username)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        ok = self.sim.authorized_key is not None and key == self.sim.authorized_key and self._allowed(username)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "publickey,password"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(SFTPHandle):
    def __init__(self, f, sim, transport, flags):
        super().__init__(flags)
        self.readfile = self.writefile = f
        self.sim, self.transport = sim, transport

    def read(self, offset, length):
        data = super().read(offset, length)
        if isinstance(data, bytes):
            self.sim.count(len(data), self.transport)
        return data

    def write(self, offset, data):
        self.sim.count(len(data), self.transport)
        return super().write(offset, data)

    def stat(self):
        return SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))


class _Folder(SFTPServerInterface):
    """The simulator's folder as the user's whole world: paths cannot leave it."""

    def __init__(self, server, *args, sim: SftpSimulator, transport, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.sim, self.transport = sim, transport

    def _path(self, path: str) -> Path:
        p = (self.sim.root / path.lstrip("/")).resolve()
        if p != self.sim.root and self.sim.root not in p.parents:
            raise PermissionError(path)
        return p

    @staticmethod
    def _error(e: Exception) -> int:
        if isinstance(e, PermissionError):
            return SFTP_PERMISSION_DENIED
        if isinstance(e, FileNotFoundError):
            return SFTP_NO_SUCH_FILE
        return SFTPServer.convert_errno(e.errno) if getattr(e, "errno", None) else SFTP_FAILURE

    def canonicalize(self, path):
        return "/" + str(self._path(path).relative_to(self.sim.root)).lstrip(".")

    def list_folder(self, path):
        try:
            folder = self._path(path)
            out = []
            for name in os.listdir(folder):
                attr = SFTPAttributes.from_stat(os.lstat(folder / name))  # as OpenSSH: a link shows as one
                attr.filename = os.fsencode(name)  # as the file system has it, UTF-8 or not
                out.append(attr)
            for name in self.sim.list_also:
                attr = SFTPAttributes()
                attr.filename, attr.st_mode, attr.st_size = os.fsencode(name), stat.S_IFREG | 0o644, 0
                out.append(attr)
            return out
        except OSError as e:
            return self._error(e)

    def stat(self, path):
        try:
            return SFTPAttributes.from_stat(os.stat(self._path(path)))
        except OSError as e:
            return self._error(e)

    lstat = stat

    def open(self, path, flags, attr):
        try:
            p = self._path(path)
            mode = "rb"
            if flags & os.O_WRONLY or flags & os.O_RDWR:
                mode = "ab" if flags & os.O_APPEND else ("r+b" if flags & os.O_RDWR and not flags & os.O_TRUNC else "wb")
                if mode == "r+b" and not p.exists():
                    mode = "w+b"
            return _Handle(open(p, mode), self.sim, self.transport, flags)
        except OSError as e:
            return self._error(e)

    def remove(self, path):
        try:
            self._path(path).unlink()
            return SFTP_OK
        except OSError as e:
            return self._error(e)

    def rename(self, oldpath, newpath):
        try:
            new = self._path(newpath)
            if new.exists():
                return SFTPServer.convert_errno(errno.EEXIST)
            self._path(oldpath).rename(new)
            return SFTP_OK
        except OSError as e:
            return self._error(e)

    def posix_rename(self, oldpath, newpath):
        try:
            os.replace(self._path(oldpath), self._path(newpath))
            return SFTP_OK
        except OSError as e:
            return self._error(e)

    def mkdir(self, path, attr):
        try:
            self._path(path).mkdir()
            return SFTP_OK
        except OSError as e:
            return self._error(e)

    def rmdir(self, path):
        try:
            self._path(path).rmdir()
            return SFTP_OK
        except OSError as e:
            return self._error(e)
