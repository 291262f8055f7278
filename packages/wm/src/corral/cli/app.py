"""The ``corral`` commands: argument parsing, the embedded Workspace Manager, output.

Every command runs an embedded Workspace Manager for its duration (runners start on
demand and are shut down when the command ends). Commands use the WM's API only
(:mod:`corral.workspace`, :mod:`corral.reports`, :mod:`corral.errors`); exit codes: 0 clean,
1 findings, 2 usage or configuration error, 3 a runner, environment or handler failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from ..errors import CorralError, UsageError
from ..execute import Limits
from ..forkhint import EarlyServer
from ..locate import find_root, is_project
from ..reports import ProjectReport, WorkspaceReport
from ..workspace import WorkspaceManager
from .changed import add_changed_options, narrow_to_changed
from .options import add_run_options, checked_params, render_options
from .progress import ProgressPrinter, lock_line
from .render import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    render_result,
    render_status,
    summarize,
)

__all__ = ["main"]


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
    add_run_options(run)
    add_changed_options(run)

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
    return find_root(Path.cwd())


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
            raise UsageError(f"--param expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = msgspec.json.decode(value)
        except msgspec.DecodeError:
            params[key] = value
    return params


def _error(message: object) -> None:
    sys.stderr.write(f"corral: error: {message}\n")


def _limits(args: argparse.Namespace) -> Limits | None:
    jobs = getattr(args, "jobs", None)
    if jobs is None:
        return None
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    return Limits(jobs=jobs)


async def _ensure_envs(wm: WorkspaceManager, projects: list[Path] | None) -> None:
    """Prepare missing or stale envs first (with a note and progress). Envs that cannot
    be prepared are reported here; their projects' runs then fail on their own (exit 3)
    while the other projects run."""
    if all(info.state == "ready" for info in wm.env_infos(projects)):
        return
    sys.stderr.write("note: preparing environments first (later runs reuse them)\n")
    printer = ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=wm.root)
    results = await wm.prepare_envs(projects, progress=printer)
    printer.finish(results)


class _Scope:
    """Where a ``corral run`` goes: one project, some projects with per-project paths, or
    the whole workspace (``project`` and ``projects`` both None)."""

    def __init__(self) -> None:
        self.project: Path | None = None
        self.projects: list[Path] | None = None
        self.params_for: dict[Path, Any] | None = None

    @property
    def targets(self) -> list[Path] | None:
        return [self.project] if self.project is not None else self.projects


def _scope(args: argparse.Namespace, wm: WorkspaceManager, params: dict[str, Any]) -> _Scope:
    """The scope the arguments ask for; raises UsageError for paths that do not exist or
    lie outside every project. Relative paths are relative to the current directory."""
    scope = _Scope()
    cwd = Path.cwd()
    if args.project is not None:
        project = (cwd / args.project).resolve()
        if project not in wm.project_roots():
            raise UsageError(f"{args.project} is not a Corral project of {wm.root}")
        scope.project = project
    elif args.paths:
        scope.params_for = {}
        for path in args.paths:
            absolute = (cwd / path).resolve()
            if not absolute.exists():
                raise UsageError(f"{path}: no such file or directory")
            owner = wm.project_of(absolute)
            if owner is not None:
                entry = scope.params_for.setdefault(owner, {**params, "paths": []})
                if "paths" in entry:
                    entry["paths"].append(str(absolute))
                continue
            inside = [p for p in wm.project_roots() if p.is_relative_to(absolute)]
            if not inside:
                raise UsageError(f"{path} is not inside a Corral project of {wm.root}")
            for project in inside:  # a directory holding projects: all of each
                scope.params_for[project] = dict(params)
        scope.projects = sorted(scope.params_for)
    elif not args.workspace and is_project(cwd) and cwd.resolve() != wm.root:
        scope.project = cwd.resolve()
    elif not args.workspace and is_project(wm.root):
        scope.project = wm.root
    return scope


async def _run(args: argparse.Namespace) -> int:
    root = _root(args)
    params = {**_params(args.param), **checked_params(args)}
    async with await WorkspaceManager.open(
        root, limits=_limits(args), fork_server=args.early_fork_server
    ) as wm:
        if not wm.project_roots():
            raise UsageError(
                f"no Corral project under {root} "
                "(a project has [tool.corral] in pyproject.toml or a corral.toml)"
            )
        scope = _scope(args, wm, params)
        if scope.project is not None and scope.project in wm.problems:
            raise wm.problems[scope.project]
        narrowed = await narrow_to_changed(
            args, wm, params, (scope.project, scope.projects, scope.params_for)
        )
        if isinstance(narrowed, int):
            return narrowed
        scope.project, scope.projects, scope.params_for = narrowed
        await _ensure_envs(wm, scope.targets)
        started = time.perf_counter()
        outcome: ProjectReport | WorkspaceReport = await wm.run(
            args.action,
            params,
            project=scope.project,
            projects=scope.projects,
            params_for=scope.params_for,
        )
        elapsed = time.perf_counter() - started
        if args.output == "json":
            sys.stdout.write(_json(outcome))
            return summarize(outcome).exit_code
        summary = render_result(
            outcome,
            sys.stdout,
            root=root,
            action=args.action,
            elapsed=elapsed,
            options=render_options(args, sys.stdout),
        )
        return summary.exit_code


def _env_command(
    wm: WorkspaceManager, args: argparse.Namespace
) -> tuple[list[Path] | None, ProgressPrinter]:
    """What prepare-envs and lock share: report unloadable projects, the ``--project``
    selection, a progress printer on stderr."""
    for path, problem in wm.problems.items():
        sys.stderr.write(f"corral: skipping {path}: {problem}\n")
    projects = [(Path.cwd() / args.project).resolve()] if args.project else None
    return projects, ProgressPrinter(sys.stderr, sys.stderr.isatty(), root=wm.root)


async def _prepare(args: argparse.Namespace) -> int:
    root = _root(args)
    async with await WorkspaceManager.open(root, limits=_limits(args)) as wm:
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
    async with await WorkspaceManager.open(root, limits=_limits(args)) as wm:
        projects, printer = _env_command(wm, args)
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
        project = None if args.project is None else (Path.cwd() / args.project)
        statuses = await wm.restart_runners(project, args.env, include_stopped=True)
        render_status(statuses, sys.stdout, root=root)
        bad = [s for s in statuses if s.state != "running"]
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
    except CorralError as exc:
        _error(exc)
        return EXIT_USAGE if exc.user_fault else EXIT_FAILURE
