"""The ``corral`` commands: argument parsing, the embedded Workspace Manager, output.

Every command runs an embedded Workspace Manager for its duration (runners start on
demand and are shut down when the command ends).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from corral_protocol import RpcError

from ..config import ConfigError, is_project
from ..envs import ProgressPrinter
from ..envs.progress import lock_line
from ..forkhint import EarlyServer
from ..supervisor import RunnerState
from ..workspace import WorkspaceManager
from .render import render_result, render_status, summarize

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3

DESCRIPTION = """\
Corral runs a workspace's development tooling (lint, format, type check, any "action") in
isolated, long-lived runner processes: one per (project, environment), each in its own
virtual environment under <project>/.corral/envs/.

Exit codes: 0 clean, 1 findings, 2 usage or configuration error, 3 a runner, environment
or handler failed.
"""

EXAMPLES = {
    "run": """examples:
  corral run lint --workspace             lint every project of the workspace
  corral run lint src/app.py              lint one file (in the project that holds it)
  corral run format -p write=true         format the current project's files in place
  corral run type-check --format json     machine-readable result on stdout""",
    "prepare-envs": """examples:
  corral prepare-envs                     create or update every environment
  corral prepare-envs --env dev_no_runtime --recreate""",
    "lock": """examples:
  corral lock                             create missing and update stale lock files
  corral lock --upgrade                   newest versions the requirements allow
  corral lock --project app --env dev_no_runtime""",
    "status": """examples:
  corral status
  corral status --format json""",
    "runners": """examples:
  corral runners restart                  (re)start every runner and report its state""",
    "wal": """examples:
  corral wal show --run <RUN ID>          a run's whole tree across processes
  corral wal verify                       check checksums and sequences (exit 1 on damage)""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'corral COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument(
        "-C",
        "--root",
        type=Path,
        default=None,
        help="workspace root (default: the current directory, or the project containing it)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command("run", "run an action on files, a project or the whole workspace")
    run.add_argument("action", help="the action to run, e.g. lint, format, check-format")
    run.add_argument("paths", nargs="*", type=Path, help="files or directories to act on")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--project", type=Path, help="run in this project only")
    scope.add_argument("--workspace", action="store_true", help="run in every project")
    run.add_argument("--format", choices=["text", "json"], default="text", dest="output")
    run.add_argument("--jobs", type=int, default=None, help="projects run at once (default: cores)")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an action parameter (VALUE is JSON if it parses, else a string); repeatable",
    )

    prepare = command("prepare-envs", "create or update the projects' environments")
    prepare.add_argument("--project", type=Path, help="only this project's environments")
    prepare.add_argument("--env", action="append", help="only this environment (repeatable)")
    prepare.add_argument("--recreate", action="store_true", help="delete and create again")
    prepare.add_argument("--jobs", type=int, default=None, help="environments prepared at once")

    lock = command("lock", "resolve the environments' lock files (pylock.corral-<env>.toml)")
    lock.add_argument("--project", type=Path, help="only this project's environments")
    lock.add_argument("--env", action="append", help="only this environment (repeatable)")
    lock.add_argument(
        "--upgrade",
        action="store_true",
        help="resolve every lock afresh (newest versions), not only missing or stale ones",
    )
    lock.add_argument("--jobs", type=int, default=None, help="environments locked at once")

    status = command("status", "show projects, environments and runners")
    status.add_argument("--format", choices=["text", "json"], default="text", dest="output")

    runners = command("runners", "manage runner processes")
    runners_commands = runners.add_subparsers(dest="runners_command", required=True)
    restart = runners_commands.add_parser(
        "restart",
        help="(re)start runners and report their states",
        epilog=EXAMPLES["runners"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restart.add_argument("--project", type=Path)
    restart.add_argument("--env")

    wal = command("wal", "read the workspace's write-ahead log")
    wal.add_argument("wal_args", nargs=argparse.REMAINDER, help="show|follow|verify [options]")
    return parser


def _root(args: argparse.Namespace) -> Path:
    if args.root is not None:
        return Path(args.root).resolve()
    cwd = Path.cwd()
    for candidate in (cwd, *cwd.parents):
        if is_project(candidate) and candidate != cwd:
            return candidate
    return cwd


def _json(value: Any) -> str:
    """Pretty JSON for ``--format json`` (paths as strings)."""

    def encode_path(obj: Any) -> Any:
        if isinstance(obj, Path):
            return str(obj)
        raise NotImplementedError(f"cannot encode {type(obj).__name__}")

    return msgspec.json.format(msgspec.json.encode(value, enc_hook=encode_path)).decode() + "\n"


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"corral: error: --param expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = msgspec.json.decode(value)
        except msgspec.DecodeError:
            params[key] = value
    return params


async def _ensure_envs(wm: WorkspaceManager, projects: list[Path] | None) -> bool:
    """Prepare missing or stale envs (with a note); False if any failed."""
    pending = [r for r in wm.env_requests(projects) if wm.env_status(r).state != "ready"]
    if not pending:
        return True
    sys.stderr.write(
        f"note: preparing {len(pending)} environment{'s' if len(pending) != 1 else ''} "
        "first (later runs reuse them)\n"
    )
    printer = ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=wm.root)
    results = await wm.prepare_envs(projects, progress=printer)
    printer.finish(results)
    return all(r.status != "failed" for r in results)


async def _run(args: argparse.Namespace) -> int:
    root = _root(args)
    params = _params(args.param)
    async with await WorkspaceManager.open(root, fork_server=args.early_fork_server) as wm:
        if args.jobs:
            wm.limits = dataclasses.replace(wm.limits, jobs=args.jobs)
        project: Path | None = None
        projects: list[Path] | None = None
        params_for: dict[Path, Any] | None = None
        if args.project is not None:
            project = args.project.resolve()
        elif args.paths:
            params_for = {}
            for path in args.paths:
                owner = wm.project_of(path)
                if owner is None:
                    sys.stderr.write(f"corral: error: {path} is not inside a Corral project\n")
                    return EXIT_USAGE
                entry = params_for.setdefault(owner, {**params, "paths": []})
                entry["paths"].append(str(path.resolve()))
            projects = sorted(params_for)
        elif not args.workspace and is_project(Path.cwd()) and Path.cwd().resolve() != root:
            project = Path.cwd().resolve()
        elif not args.workspace and is_project(root):
            project = root
        targets = [project] if project is not None else projects
        problems = wm.problems
        if project is not None and project in problems:
            sys.stderr.write(f"corral: error: {problems[project]}\n")
            return EXIT_USAGE
        if not wm.project_roots():
            sys.stderr.write(
                f"corral: error: no Corral project under {root} "
                "(a project has [tool.corral] in pyproject.toml or a corral.toml)\n"
            )
            return EXIT_USAGE
        if not await _ensure_envs(wm, targets):
            sys.stderr.write("corral: error: some environments could not be prepared\n")
            return EXIT_FAILURE
        started = time.perf_counter()
        try:
            outcome = await wm.run(
                args.action, params, project=project, projects=projects, params_for=params_for
            )
        except ConfigError as exc:
            sys.stderr.write(f"corral: error: {exc}\n")
            return EXIT_USAGE
        except RpcError as exc:
            sys.stderr.write(f"corral: error: {exc.message}\n")
            return EXIT_USAGE
        elapsed = time.perf_counter() - started
        if args.output == "json":
            sys.stdout.write(_json(outcome))
            summary, _ = summarize(outcome, project)
        else:
            summary = render_result(
                outcome,
                sys.stdout,
                root=root,
                action=args.action,
                project=project,
                elapsed=elapsed,
            )
        return summary.exit_code


def _env_command(
    wm: WorkspaceManager, args: argparse.Namespace
) -> tuple[list[Path] | None, ProgressPrinter]:
    """What prepare-envs and lock share: report unloadable projects, apply ``--jobs``,
    the ``--project`` selection, a progress printer on stderr."""
    for path, problem in wm.problems.items():
        sys.stderr.write(f"corral: skipping {path}: {problem}\n")
    if args.jobs:
        wm.limits = dataclasses.replace(wm.limits, jobs=args.jobs)
    projects = [args.project.resolve()] if args.project else None
    return projects, ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=wm.root)


async def _prepare(args: argparse.Namespace) -> int:
    root = _root(args)
    async with await WorkspaceManager.open(root) as wm:
        projects, printer = _env_command(wm, args)
        results = await wm.prepare_envs(
            projects, args.env, recreate=args.recreate, progress=printer
        )
        printer.finish(results)
        for result in results:
            if result.status == "failed":
                sys.stderr.write(f"error: {result.error}\n")
        return EXIT_FAILURE if any(r.status == "failed" for r in results) else EXIT_OK


async def _lock(args: argparse.Namespace) -> int:
    root = _root(args)
    async with await WorkspaceManager.open(root) as wm:
        projects, printer = _env_command(wm, args)
        outcomes = await wm.lock_envs(projects, args.env, upgrade=args.upgrade, progress=printer)
        for outcome in outcomes:
            label = printer.label(outcome.request.project, outcome.request.name)
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


async def _status(args: argparse.Namespace) -> int:
    root = _root(args)
    async with await WorkspaceManager.open(root, wal=False) as wm:
        await wm.resolve_projects()  # presets applied: the full env list
        statuses = wm.statuses()
        problems = wm.problems
        if args.output == "json":
            payload = {
                "root": str(root),
                "runners": statuses,
                "problems": {str(p): str(e) for p, e in problems.items()},
            }
            sys.stdout.write(_json(payload))
        else:
            render_status(statuses, sys.stdout, root=root)
            for problem in problems.values():
                sys.stdout.write(f"config error: {problem}\n")
        return EXIT_USAGE if problems else EXIT_OK


async def _runners(args: argparse.Namespace) -> int:
    root = _root(args)
    async with await WorkspaceManager.open(root) as wm:
        runners = await wm.restart_runners(args.project, args.env, include_stopped=True)
        render_status([r.status() for r in runners], sys.stdout, root=root)
        bad = [r for r in runners if r.state is not RunnerState.RUNNING]
        return EXIT_FAILURE if bad else EXIT_OK


def _wal(args: argparse.Namespace) -> int:
    from corral_wal.cli import main as wal_main  # noqa: PLC0415

    argv = list(args.wal_args)
    if argv and "--dir" not in argv:
        argv += ["--dir", str(_root(args) / ".corral" / "wal")]
    return wal_main(argv)


def main(argv: Sequence[str] | None = None, *, early: EarlyServer | None = None) -> int:
    """Run one command; returns the exit code. ``early``: a fork server the entry point
    started before importing this module (:func:`corral.forkhint.prestart`)."""
    try:
        args = _parser().parse_args(argv)
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
    if args.command == "wal":
        return _wal(args)
    handlers = {
        "run": _run,
        "prepare-envs": _prepare,
        "lock": _lock,
        "status": _status,
        "runners": _runners,
    }
    try:
        return asyncio.run(handlers[args.command](args))
    except KeyboardInterrupt:
        sys.stderr.write("corral: interrupted\n")
        return 130
