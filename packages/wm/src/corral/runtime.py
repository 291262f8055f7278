"""Where a workspace's WM server lives: the per-user runtime directory and its records.

SPEC.md Part II (transport and discovery). Standard library only: every client command
reads this before anything else.

* The directory: ``$CORRAL_RUNTIME_DIR`` (tests), else ``$XDG_RUNTIME_DIR/corral``, else
  ``<user cache dir>/corral/run``; created mode 0700 and refused when another user owns it
  or others may write to it.
* Per workspace (keyed by the first 32 hex digits of the sha256 of the canonical root):
  ``<key>.json`` the record (0600), ``<key>.sock`` the Unix socket, ``<key>.lock`` held
  exclusively by the running server, ``<key>.start.lock`` held by whoever is starting one,
  ``<key>.log`` the server's log. A socket whose path would be too long for the OS goes to
  ``<temp dir>/corral-<uid>/`` (0700, checked the same way); the record names it.
* A record is trusted only while its pid is alive *and* the process's start time is the one
  recorded (a pid reused by another process is a stale record).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "Record",
    "RuntimeDirError",
    "ServerPaths",
    "exclusive_lock",
    "process_start_time",
    "runtime_dir",
    "server_paths",
]

if sys.platform != "win32":
    import fcntl


class RuntimeDirError(Exception):
    """The runtime directory cannot be used safely (owned by someone else, writable by
    others, or not creatable)."""


def _default_base() -> Path:
    override = os.environ.get("CORRAL_RUNTIME_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "corral"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "corral" / "run"


MAX_SOCKET_PATH: Final = 100
"""Unix socket paths longer than this (the OS limit is 104-108 bytes) go to
:func:`short_socket_dir` instead of the runtime directory."""


def runtime_dir(create: bool = True) -> Path:
    """The per-user runtime directory (see the module docstring); raises
    :class:`RuntimeDirError` when it is unsafe."""
    return _private_dir(_default_base(), create=create)


def short_socket_dir() -> Path:
    """``<temp dir>/corral-<uid>``: where a socket goes when the runtime directory's path
    is too long for one (same rules: created 0700, refused when not ours)."""
    base = Path(os.environ.get("TMPDIR") or "/tmp")  # noqa: S108  (checked like any runtime dir)
    uid = os.getuid() if sys.platform != "win32" else 0
    return _private_dir(base / f"corral-{uid}", create=True)


def _private_dir(path: Path, *, create: bool) -> Path:
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeDirError(f"cannot create the runtime directory {path}: {exc}") from exc
    try:
        info = path.stat()
    except FileNotFoundError:
        return path
    if sys.platform != "win32":
        if info.st_uid != os.getuid():
            raise RuntimeDirError(f"{path} belongs to another user (uid {info.st_uid})")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IRGRP | stat.S_IROTH):
            with contextlib.suppress(OSError):
                path.chmod(0o700)
            if path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise RuntimeDirError(f"{path} is writable by other users; make it 0700")
    return path


@dataclass(frozen=True)
class ServerPaths:
    """The files of one workspace's server in the runtime directory."""

    root: Path
    record: Path
    socket: Path
    lock: Path
    start_lock: Path
    log: Path


def workspace_key(root: Path) -> str:
    """The first 32 hex digits of the sha256 of the canonical root path."""
    return hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:32]


def server_paths(root: Path, directory: Path | None = None) -> ServerPaths:
    """The paths for the workspace at ``root`` (in ``directory``, default the runtime dir)."""
    base = directory if directory is not None else runtime_dir()
    key = workspace_key(root)
    socket = base / f"{key}.sock"
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
        socket = short_socket_dir() / f"{key}.sock"
    return ServerPaths(
        root=root.resolve(),
        record=base / f"{key}.json",
        socket=socket,
        lock=base / f"{key}.lock",
        start_lock=base / f"{key}.start.lock",
        log=base / f"{key}.log",
    )


def process_start_time(pid: int) -> str | None:
    """An identity of process ``pid``'s start (Linux: its start time in clock ticks since
    boot; elsewhere the empty string when it exists), or None when there is no such
    process."""
    if pid <= 0:
        return None
    stat_file = Path(f"/proc/{pid}/stat")
    if sys.platform == "linux":
        try:
            text = stat_file.read_text()
        except OSError:
            return None
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = text.rpartition(")")[2].split()
        return fields[19] if len(fields) > 19 else None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


@dataclass(frozen=True)
class Record:
    """What a running server writes about itself (``<key>.json``)."""

    pid: int
    start_time: str
    endpoint: str
    """``unix:<path>`` or ``tcp:127.0.0.1:<port>``."""
    token: str
    """For a TCP endpoint (empty for a Unix socket)."""
    version: str
    protocol: list[str]
    root: str
    started: str

    def alive(self) -> bool:
        """Whether the recorded process still runs (same pid, same start time)."""
        return process_start_time(self.pid) == self.start_time

    @classmethod
    def read(cls, path: Path) -> Record | None:
        """The record at ``path``, or None when missing, unreadable, not ours or malformed
        (``server-record.json``: camelCase members)."""
        try:
            if sys.platform != "win32" and path.stat().st_uid != os.getuid():
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
            values = {name: data[_camel(name)] for name in cls.__dataclass_fields__}
            record = cls(**values)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        if not isinstance(record.pid, int) or not isinstance(record.start_time, str):
            return None
        return record

    def write(self, path: Path) -> None:
        """Write atomically, readable by the owner only."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({_camel(name): value for name, value in asdict(self).items()}, handle)
        os.replace(temporary, path)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait: float | None = 0.0) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created 0600) for the ``with`` body; yields
    whether it was obtained: at once (``wait=0``), within ``wait`` seconds, or waiting as
    long as it takes (``None``). On Windows: always obtained (no server exclusivity)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform == "win32":
            yield True
            return
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.01)
                continue
            break
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
