"""``corral``: parse the command line, pick where the Workspace Manager runs, dispatch.

Commands that need a WM talk to the workspace's server (:mod:`corral.client`, started on
first use) unless ``--no-server``, ``CORRAL_SERVER=0`` or a set ``CI`` variable ask for one
embedded in the command (``--server`` or ``CORRAL_SERVER=1`` win over ``CI``). ``lock`` and
``wal`` always work on their own. Exit codes: 0 clean, 1 findings, 2 usage or configuration
error, 3 a runner, environment or handler failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from .._version import __version__
from ..errors import CorralError, UsageError
from ..forkhint import EarlyServer
from ..locate import ProjectTree, find_root
from ..mode import server_wanted
from . import commands
from .backend import Backend, embedded, served
from .commands import OpenBackend
from .parser import build_parser
from .progress import ProgressPrinter, lock_line
from .render import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .servercmd import server_command

__all__ = ["main", "use_server"]

INTERRUPTED = 130


def _root(args: argparse.Namespace) -> Path:
    if args.root is not None:
        root = Path(args.root).resolve()
        if not root.is_dir():
            raise UsageError(f"-C {args.root}: no such directory")
        return root
    return find_root(Path.cwd())


def _require_projects(root: Path) -> None:
    """A usage error, before anything is started or written, when ``root`` holds no
    project (``run`` checks its own scope; ``server stop|status|logs`` work anywhere)."""
    if not ProjectTree.find(root).roots:
        raise UsageError(
            f"no Corral project under {root} (a project has [tool.corral] in pyproject.toml "
            "or a corral.toml; -C names another workspace root)"
        )


def use_server(args: argparse.Namespace) -> bool:
    """Whether the command uses the workspace's server (:func:`corral.mode.server_wanted`)."""
    return server_wanted(args.server, os.environ)


def _backend(args: argparse.Namespace, root: Path) -> OpenBackend:
    """How the command opens its backend (used once, inside its ``asyncio.run``)."""
    if use_server(args):
        early = args.early_fork_server
        if early is not None:  # the server forks its own runners: this one is not needed
            early.close()
        return lambda: served(root, version=__version__)

    @contextlib.asynccontextmanager
    async def open_embedded() -> AsyncIterator[Backend]:
        async with embedded(
            root, jobs=getattr(args, "jobs", None), fork_server=args.early_fork_server
        ) as backend:
            yield backend

    return open_embedded


async def _lock(args: argparse.Namespace, root: Path) -> int:
    from ..workspace import WorkspaceManager  # noqa: PLC0415  (locks are resolved here)

    async with await WorkspaceManager.open(root) as wm:
        for path, problem in wm.problems.items():
            sys.stderr.write(f"corral: skipping {path}: {problem}\n")
        projects = [(Path.cwd() / args.project).resolve()] if args.project else None
        printer = ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=wm.root)
        outcomes = await wm.lock_envs(projects, args.env, upgrade=args.upgrade, progress=printer)
        for outcome in outcomes:
            label = printer.label(outcome.project, outcome.env)
            sys.stdout.write(lock_line(outcome, label, wm.root) + "\n")
        counts = collections.Counter(outcome.status for outcome in outcomes)
        sys.stdout.write(
            f"{len(outcomes)} lock file{'' if len(outcomes) == 1 else 's'}: "
            + ", ".join(f"{counts[s]} {s}" for s in ("created", "updated", "unchanged", "failed"))
            + "\n"
        )
        for outcome in outcomes:
            if outcome.status == "failed":
                sys.stderr.write(f"error: {outcome.error}\n")
        return EXIT_FAILURE if counts["failed"] else EXIT_OK


def _wal(args: argparse.Namespace) -> int:
    from corral_wal.cli import main as wal_main  # noqa: PLC0415

    argv = list(args.wal_args)
    if argv and "--dir" not in argv:
        argv += ["--dir", str(_root(args) / ".corral" / "wal")]
    return wal_main(argv, prog="corral wal")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; ``corral run``'s PATHS may also follow its options (``corral run lint
    --fix a.py b.py``, as hooks append file names), which argparse alone refuses."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    trailing_paths = not any(item.startswith("-") and item != "-" for item in extra)
    if extra and getattr(args, "command", None) == "run" and trailing_paths:
        args.paths = [*args.paths, *map(Path, extra)]
        return args
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None, *, early: EarlyServer | None = None) -> int:
    """Run one command; returns the exit code. ``early``: a fork server the entry point
    started before importing this module (:func:`corral.forkhint.prestart`)."""
    try:
        args = _parse(argv)
    except SystemExit:
        if early is not None:
            early.close()
        raise
    args.early_fork_server = early
    try:
        return _dispatch(args)
    finally:
        if early is not None and not early.taken:  # the command ended before needing it
            early.close()


def _dispatch(args: argparse.Namespace) -> int:
    try:
        root = _root(args)
        if args.command == "wal":
            return _wal(args)
        if args.command != "run" and (
            args.command != "server" or args.server_command in ("start", "restart")
        ):
            _require_projects(root)
        if args.command == "server":
            return server_command(args, root, __version__, args.early_fork_server)
        if args.command == "lsp":
            from ..lsp import main as lsp_main  # noqa: PLC0415  (pygls only for the LSP)

            if args.early_fork_server is not None:
                args.early_fork_server.close()
            return lsp_main(served=use_server(args), version=__version__, tcp=args.tcp)
        if args.command == "mcp":
            from ..mcp import main as mcp_main  # noqa: PLC0415  (the MCP SDK only here)

            if args.early_fork_server is not None:
                args.early_fork_server.close()
            return mcp_main(root, served=use_server(args), version=__version__)
        if args.command == "lock":
            return asyncio.run(_lock(args, root))
        handlers = {
            "run": commands.run,
            "prepare-envs": commands.prepare,
            "status": commands.status,
            "runners": commands.runners,
        }
        return asyncio.run(handlers[args.command](args, root, _backend(args, root)))
    except KeyboardInterrupt:
        sys.stderr.write("corral: interrupted\n")
        return INTERRUPTED
    except CorralError as exc:
        sys.stderr.write(f"corral: error: {exc}\n")
        return EXIT_USAGE if exc.user_fault else EXIT_FAILURE
