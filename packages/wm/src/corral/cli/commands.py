"""The bodies of ``corral run``, ``prepare-envs``, ``status`` and ``runners restart``.

Each decides its request on this side (:mod:`.scope`), asks a :class:`~.backend.Backend`
(the workspace's server, or a WM embedded for the command) and prints the answer. The JSON
they print is the answer as the client protocol carries it: the same for both backends.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol.client import PrepareProgress, PrepareRequest, RestartRequest
from corral_protocol.nesting import MAX_NESTING_DEPTH, too_deep

from ..errors import UsageError
from ..locate import ProjectTree
from ..sinks import RunSinks
from .backend import Backend, server_lines
from .changed import narrow_to_changed
from .options import checked_params, render_options
from .progress import ProgressPrinter
from .render import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, render_result, render_status, summarize
from .scope import inside_projects, run_request

__all__ = ["OpenBackend", "params", "prepare", "run", "runners", "status", "to_json"]

OpenBackend = Callable[[], AbstractAsyncContextManager[Backend]]
"""Opens the command's backend (the server, or an embedded WM) for an ``async with``."""


def to_json(value: Any) -> str:
    """Pretty JSON for ``--format json`` (paths as strings)."""

    def encode_path(obj: Any) -> Any:
        if isinstance(obj, Path):
            return str(obj)
        raise NotImplementedError(f"cannot encode {type(obj).__name__}")

    return msgspec.json.format(msgspec.json.encode(value, enc_hook=encode_path)).decode() + "\n"


def params(pairs: list[str]) -> dict[str, Any]:
    """``-p KEY=VALUE`` pairs: VALUE is JSON if it parses, else a string."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param expects KEY=VALUE, got {pair!r}")
        if too_deep(value.encode()):
            raise UsageError(
                f"--param {key}: the value nests deeper than {MAX_NESTING_DEPTH} levels, the "
                "protocol's limit (SPEC.md §5.7)"
            )
        try:
            result[key] = msgspec.json.decode(value)
        except msgspec.DecodeError:
            result[key] = value
    return result


def _jobs(args: argparse.Namespace) -> int | None:
    jobs: int | None = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    return jobs


class _Preparing:
    """Env preparation progress of a run: a note on the first event, then the printer."""

    def __init__(self, root: Path) -> None:
        self.printer = ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=root)
        self.events: list[PrepareProgress] = []

    def __call__(self, event: PrepareProgress) -> None:
        if not self.events:
            sys.stderr.write("note: preparing environments first (later runs reuse them)\n")
        self.events.append(event)
        self.printer(event)

    def finish(self) -> None:
        finals = [e for e in self.events if e.status is not None]
        if finals:
            self.printer.finish_events(finals)


async def run(args: argparse.Namespace, root: Path, backend: OpenBackend) -> int:
    """``corral run``."""
    tree = ProjectTree.find(root)
    if args.skip_outside_projects and args.paths:
        args.paths = inside_projects(args.paths, tree)
        if not args.paths:
            sys.stdout.write(f"{args.action}: no given path is in a project: nothing to do\n")
            return EXIT_OK
    request = run_request(args, root, tree, {**params(args.param), **checked_params(args)})
    narrowed = await narrow_to_changed(args, tree, request)
    if isinstance(narrowed, int):
        return narrowed
    request = msgspec.structs.replace(narrowed, jobs=_jobs(args))
    preparing = _Preparing(root)
    async with backend() as wm:
        started = time.perf_counter()
        report = await wm.run(request, RunSinks(prepare=preparing))
        elapsed = time.perf_counter() - started
        # Printed before the backend closes: stopping runners is no reason to wait.
        preparing.finish()
        if args.output == "json":
            sys.stdout.write(to_json(report))
            sys.stdout.flush()
            return summarize(report).exit_code
        if args.output == "sarif":
            from .sarif import sarif_log  # noqa: PLC0415  (only for this format)

            sys.stdout.write(to_json(sarif_log(report, root=root)))
            sys.stdout.flush()
            return summarize(report).exit_code
        if args.output == "github":
            from .github import render_github  # noqa: PLC0415  (only for this format)

            github = render_github(
                report, sys.stdout, root=root, action=args.action, elapsed=elapsed
            )
            sys.stdout.flush()
            return github.exit_code
        summary = render_result(
            report,
            sys.stdout,
            root=root,
            action=args.action,
            elapsed=elapsed,
            options=render_options(args, sys.stdout),
        )
        sys.stdout.flush()
        return summary.exit_code


async def prepare(args: argparse.Namespace, root: Path, backend: OpenBackend) -> int:
    """``corral prepare-envs``."""
    project = None if args.project is None else str((Path.cwd() / args.project).resolve())
    request = PrepareRequest(
        projects=None if project is None else [project],
        envs=args.env,
        recreate=args.recreate,
        jobs=_jobs(args),
    )
    printer = ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=root)
    async with backend() as wm:
        outcome = await wm.prepare(request, printer)
    printer.finish(outcome.envs)
    return EXIT_FAILURE if any(r.status == "failed" for r in outcome.envs) else EXIT_OK


async def status(args: argparse.Namespace, root: Path, backend: OpenBackend) -> int:
    """``corral status``: projects, envs and runners (and the server, when one serves)."""
    async with backend() as wm:
        result = await wm.status()
    problems = [p for p in result.projects if p.error is not None]
    if args.output == "json":
        sys.stdout.write(to_json(result))
    else:
        for line in server_lines(result.server):
            sys.stdout.write(line + "\n")
        render_status(result.runners, sys.stdout, root=root)
        for project in problems:
            sys.stdout.write(f"config error: {project.error}\n")
    return EXIT_USAGE if problems else EXIT_OK


async def runners(args: argparse.Namespace, root: Path, backend: OpenBackend) -> int:
    """``corral runners restart``."""
    project = None if args.project is None else str((Path.cwd() / args.project).resolve())
    request = RestartRequest(project=project, env=args.env, include_stopped=True)
    async with backend() as wm:
        outcome = await wm.restart(request)
    render_status(outcome.runners, sys.stdout, root=root)
    return EXIT_FAILURE if any(s.state != "running" for s in outcome.runners) else EXIT_OK
