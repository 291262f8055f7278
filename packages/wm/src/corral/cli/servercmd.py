"""``corral server start [--foreground] | stop | restart | status | logs [-f]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from corral_protocol.messages import ClientInfo

from ..errors import CorralError
from ..forkhint import EarlyServer
from ..runtime import Record, exclusive_lock, server_paths
from .backend import server_lines
from .commands import to_json
from .render import EXIT_FAILURE, EXIT_OK, render_status

__all__ = ["server_command"]

NOT_RUNNING = 3
"""Exit status of ``corral server status`` when no server runs (as ``systemctl status``)."""
FOLLOW_INTERVAL = 0.2


def _client(version: str) -> ClientInfo:
    return ClientInfo(name="corral-cli", version=version)


def server_command(
    args: argparse.Namespace, root: Path, version: str, early: EarlyServer | None
) -> int:
    """Run ``corral server ...``; the exit status."""
    which = args.server_command
    if which == "start" and args.foreground:
        from ..server.main import run_server  # noqa: PLC0415  (the WM only where it runs)

        return run_server(root, idle_timeout=args.idle_timeout, fork_server=early)
    if which == "logs":
        return _logs(root, follow=args.follow)
    if early is not None:
        early.close()
    if which == "status":
        return asyncio.run(_status(root, version, as_json=args.output == "json"))
    if which == "stop":
        return asyncio.run(_stop(root, version))
    if which == "restart":
        asyncio.run(_stop(root, version))
    return asyncio.run(_start(root, version, getattr(args, "idle_timeout", None)))


def _running(root: Path) -> Record | None:
    record = Record.read(server_paths(root).record)
    return record if record is not None and record.alive() else None


async def _start(root: Path, version: str, idle_timeout: float | None) -> int:
    from ..client.connect import connect  # noqa: PLC0415

    def notice(text: str) -> None:
        sys.stderr.write(f"corral: {text}\n")

    session = await connect(root, client=_client(version), notice=notice, idle_timeout=idle_timeout)
    try:
        server = session.server
        sys.stdout.write(f"server of {server.root}: pid {server.pid}, version {server.version}\n")
    finally:
        await session.aclose()
    return EXIT_OK


async def _stop(root: Path, version: str) -> int:
    from ..client.connect import connect  # noqa: PLC0415

    paths = server_paths(root)
    if _running(root) is None:
        sys.stdout.write(f"no Corral server runs for {paths.root}\n")
        return EXIT_OK
    try:
        session = await connect(root, client=_client(version), start=False)
    except CorralError as exc:
        sys.stderr.write(f"corral: error: {exc}\n")
        return EXIT_FAILURE
    pid = session.server.pid
    await session.stop()
    await session.aclose()

    def wait() -> bool:
        with exclusive_lock(paths.lock, wait=30.0) as released:
            return released

    if not await asyncio.to_thread(wait):
        sys.stderr.write(f"corral: error: the server (pid {pid}) did not stop within 30 s\n")
        return EXIT_FAILURE
    sys.stdout.write(f"stopped the Corral server of {paths.root} (pid {pid})\n")
    return EXIT_OK


async def _status(root: Path, version: str, *, as_json: bool) -> int:
    from ..client.connect import connect  # noqa: PLC0415

    paths = server_paths(root)
    if _running(root) is None:
        if as_json:
            sys.stdout.write(to_json({"root": str(paths.root), "server": None}))
        else:
            sys.stdout.write(f"no Corral server runs for {paths.root}\n")
        return NOT_RUNNING
    session = await connect(root, client=_client(version), start=False)
    try:
        result = await session.status()
    finally:
        await session.aclose()
    if as_json:
        sys.stdout.write(to_json(result))
        return EXIT_OK
    for line in server_lines(result.server):
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"log: {paths.log}\n")
    render_status(result.runners, sys.stdout, root=root)
    return EXIT_OK


def _logs(root: Path, *, follow: bool) -> int:
    log = server_paths(root).log
    try:
        handle = log.open("rb")
    except FileNotFoundError:
        sys.stderr.write(f"corral: no server log yet ({log})\n")
        return NOT_RUNNING
    with handle:
        sys.stdout.buffer.write(handle.read())
        sys.stdout.flush()
        while follow:
            chunk = handle.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                time.sleep(FOLLOW_INTERVAL)
    return EXIT_OK
