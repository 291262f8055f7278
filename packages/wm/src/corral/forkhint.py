"""Starting the fork server before the WM has even been imported.

A cold ``corral run`` spends its first ~150 ms importing the WM and its next ~150 ms
waiting for a fork server to import the runner: one after the other, although they could
overlap. The WM therefore records which env its last fork server came from (and which
handler modules it preloaded) in ``<root>/.corral/forkserver.json``; the next ``corral
run`` starts a server from that env first thing, with the standard library only, and
hands it to the WM (:class:`~corral.supervisor.forkserver.ForkServers` adopts it).

The record is only a guess: the server still checks every env it is asked to fork (a
stale guess costs one unused server, closed with the WM). This module imports nothing but
the standard library, so that using it costs the command nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["BOOTSTRAP", "HINT", "EarlyServer", "fork_server_enabled", "prestart", "write_hint"]

BOOTSTRAP: Final = (
    "import sys; from corral_runner.forkserver import serve; serve(int(sys.argv[1]), sys.argv[2:])"
)
"""The ``-c`` program of ``<env python> -c BOOTSTRAP <control fd> [handler module ...]``
(see ``corral_runner.forkserver``)."""

HINT: Final = Path(".corral", "forkserver.json")
"""Where, under the workspace root, the WM records its last fork server's env."""


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
    """For a ``corral run`` command line, a server started from the recorded env (None:
    another command, no record, a record naming an env that is gone, or turned off)."""
    if not fork_server_enabled() or _command(argv) != "run":
        return None
    record = _find_hint(_root_option(argv) or cwd or Path.cwd())
    if record is None:
        return None
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        python = str(data["python"])
        preload = tuple(str(m) for m in data.get("preload", []))
        if not _env_interpreter(Path(python), record.parent.parent) or any(
            m.startswith("-") for m in preload
        ):
            return None
        process, control = spawn_server(python, preload)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return EarlyServer(process, control, python, preload)


def write_hint(root: Path, python: str, preload: Sequence[str]) -> None:
    """Record the env a fork server was started from (best effort, atomic)."""
    path = root / HINT
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"python": python, "preload": list(preload)}))
        temporary.replace(path)


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
    (``<project>/.corral/envs/<name>/bin/python``): the only thing a record may start."""
    parts = python.parts
    return (
        python.is_absolute()
        and python.is_relative_to(root)
        and len(parts) >= 5
        and parts[-5:-2] == (".corral", "envs", parts[-3])
        and parts[-2:] == ("bin", "python")
        and python.is_file()
    )


def _find_hint(start: Path) -> Path | None:
    """The record in ``start`` or the nearest of its parents that has one."""
    start = start.absolute()
    for directory in (start, *start.parents):
        candidate = directory / HINT
        if candidate.is_file():
            return candidate
    return None
