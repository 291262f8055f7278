"""Starting the fork server before the WM has even been imported.

A cold ``corral run`` spends its first ~150 ms importing the WM and its next ~150 ms
waiting for a fork server to import the runner: one after the other, although they could
overlap. The WM therefore records, per workspace root, which env its last fork server came
from (and which handler modules it preloaded), in the user's cache directory
(``$XDG_CACHE_HOME/corral/forkserver/``, default ``~/.cache``); the next ``corral run``
in that workspace starts a server from that env first thing, with the standard library
only, and hands it to the WM (:class:`~corral.supervisor.forkserver.ForkServers` adopts
it).

The record lives outside the workspace on purpose: a repository cannot ship one, and a
record is used only if the current user owns it, nobody else may write it, it names the
workspace it was looked up for, and it starts nothing but an env interpreter of that
workspace (``<project>/.corral/envs/<name>/bin/python``), the same program the WM would
run for that env anyway. It is still only a guess: the server checks every env it is
asked to fork, and a server nobody needed is closed with the WM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .mode import flag_from_argv, server_wanted
from .pyrunner import FORK_SERVER_BOOTSTRAP

__all__ = [
    "BOOTSTRAP",
    "EarlyServer",
    "fork_server_enabled",
    "prestart",
    "record_path",
    "write_hint",
]

BOOTSTRAP: Final = FORK_SERVER_BOOTSTRAP
"""The ``-c`` program of a fork server (:data:`corral.pyrunner.FORK_SERVER_BOOTSTRAP`)."""


def record_path(root: Path) -> Path:
    """Where the record for the workspace at ``root`` (absolute, resolved) is kept."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:32]
    return Path(cache, "corral", "forkserver", f"{digest}.json")


def fork_server_enabled() -> bool:
    """Linux, and not turned off with ``CORRAL_FORK_SERVER=0``."""
    return sys.platform == "linux" and os.environ.get("CORRAL_FORK_SERVER", "1") != "0"


@dataclass
class EarlyServer:
    """A fork server started before the event loop: its process and control socket."""

    process: subprocess.Popen[bytes]
    control: socket.socket
    python: str
    preload: tuple[str, ...]
    taken: bool = False
    """Set by the WM that adopted (or closed) it; the command closes it otherwise."""

    def close(self) -> None:
        """Stop it (it exits when its control socket closes) and reap it. Idempotent."""
        self.taken = True
        self.control.close()
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def spawn_server(
    python: str, preload: Sequence[str]
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``<python> -c BOOTSTRAP`` in its env's directory; (process, control socket)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        process = subprocess.Popen(  # noqa: S603  (an env interpreter, as for any runner)
            [python, "-c", BOOTSTRAP, str(theirs.fileno()), *preload],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(theirs.fileno(),),
            cwd=Path(python).parent.parent,  # `-c` puts the cwd on sys.path: the env's
            start_new_session=True,
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, ours


def prestart(argv: Sequence[str], cwd: Path | None = None) -> EarlyServer | None:
    """For a ``corral run`` command line, a server started from the env recorded for its
    workspace (None: another command, no usable record, or turned off)."""
    if not fork_server_enabled() or _command(argv) != "run":
        return None
    if server_wanted(flag_from_argv(argv), os.environ):
        return None  # the server forks its own runners
    start = _root_option(argv) or cwd or Path.cwd()
    try:
        start = start.resolve()
    except OSError:
        return None
    for root in (start, *start.parents):  # the WM's root is here or above
        found = _read_record(root)
        if found is not None:
            python, preload = found
            try:
                process, control = spawn_server(python, preload)
            except OSError:
                return None
            return EarlyServer(process, control, python, preload)
    return None


def write_hint(root: Path, python: str, preload: Sequence[str]) -> None:
    """Record the env a fork server was started from for ``root`` (best effort, atomic,
    readable and writable by the user only)."""
    path = record_path(root)
    record = {"root": str(root), "python": python, "preload": list(preload)}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(record))
        temporary.replace(path)


def _read_record(root: Path) -> tuple[str, tuple[str, ...]] | None:
    """(python, preload) of the record for ``root``, if it may be trusted and used."""
    path = record_path(root)
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        python = str(data["python"])
        preload = tuple(str(m) for m in data.get("preload", []))
        if data.get("root") != str(root):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not _env_interpreter(Path(python), root) or any(m.startswith("-") for m in preload):
        return None
    return python, preload


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand: the first argument that is neither an option nor its value."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-C", "--root"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _root_option(argv: Sequence[str]) -> Path | None:
    for index, arg in enumerate(argv):
        if arg in ("-C", "--root") and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--root="):
            return Path(arg.removeprefix("--root="))
    return None


def _env_interpreter(python: Path, root: Path) -> bool:
    """Whether ``python`` is an env interpreter of a project under ``root``
    (``<project>/.corral/envs/<name>/bin/python``, no ``..``): all a record may start."""
    parts = python.parts
    return (
        python.is_absolute()
        and ".." not in parts
        and python.is_relative_to(root)
        and len(parts) >= 5
        and parts[-5:-3] == (".corral", "envs")
        and parts[-2:] == ("bin", "python")
        and python.is_file()
    )
