"""The ``corral`` command line: its commands, options and help texts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .changed import add_changed_options
from .options import add_run_options

__all__ = ["DESCRIPTION", "EXAMPLES", "VERSIONED", "build_parser"]

VERSIONED = ("corral", "corral-runner", "corral-protocol", "corral-wal", "corral-python")
"""The distributions ``corral --version`` names (those installed)."""


DESCRIPTION = """\
Corral runs a workspace's development tooling (lint, format, type check, any "action") in
isolated, long-lived runner processes: one per (project, environment), each in its own
virtual environment under <project>/.corral/envs/.

Commands talk to the workspace's Corral server, which keeps runners warm between commands
(started in the background on first use, stopped after 3 h without use; see 'corral server
--help'). With --no-server, CORRAL_SERVER=0, or on CI (the CI variable set), a command runs
its own Workspace Manager instead and stops its runners when it ends.

Exit codes: 0 clean, 1 findings, 2 usage or configuration error, 3 a runner, environment
or handler failed.
"""

EXAMPLES = {
    "run": """examples:
  corral run lint --workspace             lint every project of the workspace
  corral run lint src/app.py              lint one file (in the project that holds it)
  corral run format -p write=true         format the current project's files in place
  corral run type-check --format json     machine-readable result on stdout
  corral run lint --format sarif          a SARIF 2.1.0 log for code scanning (CI)""",
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
    "server": """examples:
  corral server status                    pid, uptime, clients and runners of the server
  corral server stop                      stop it (runs are cancelled, runners stopped)
  corral server logs -f                   follow its log
  corral server start --foreground        run it in this terminal (Ctrl-C stops it)""",
    "wal": """examples:
  corral wal show --run <RUN ID>          a run's whole tree across processes
  corral wal verify                       check checksums and sequences (exit 1 on damage)""",
}


def build_parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "-V", "--version", action=_Version, help="print the versions of Corral's packages"
    )
    _add_server_options(parser, default=None)
    # The same options after the command (`corral run lint --no-server`); SUPPRESS keeps a
    # value given before the command when they are not repeated after it.
    where = argparse.ArgumentParser(add_help=False)
    _add_server_options(where, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES.get(name),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[] if name in ("wal", "server") else [where],
        )

    _add_run(command("run", "run an action on files, a project or the whole workspace"))

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

    _add_server(command("server", "manage the workspace's Corral server"))

    lsp = command(
        "lsp",
        "serve the Language Server Protocol on stdio for an editor (a client of the "
        "workspace's server)",
    )
    lsp.add_argument(
        "--tcp", type=int, default=None, metavar="PORT", help="listen on 127.0.0.1:PORT instead"
    )

    command(
        "mcp",
        "serve the Model Context Protocol on stdio for a coding agent (a client of the "
        "workspace's server; needs the MCP SDK: pip install 'corral[mcp]')",
    )

    wal = command("wal", "read the workspace's write-ahead log")
    wal.add_argument("wal_args", nargs=argparse.REMAINDER, help="show|follow|verify [options]")
    return parser


def _add_run(run: argparse.ArgumentParser) -> None:
    """``corral run``'s arguments."""
    run.add_argument("action", help="the action to run, e.g. lint, format, check-format")
    run.add_argument(
        "paths", nargs="*", type=Path, default=[], help="files or directories to act on"
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("--project", type=Path, help="run in this project only")
    scope.add_argument("--workspace", action="store_true", help="run in every project")
    run.add_argument(
        "--format",
        choices=["text", "json", "sarif", "github"],
        default="text",
        dest="output",
        help="text (default); json: the run report; sarif: a SARIF 2.1.0 log for code "
        "scanning; github: GitHub Actions annotations",
    )
    run.add_argument("--jobs", type=int, default=None, help="projects run at once (default: cores)")
    run.add_argument(
        "--skip-outside-projects",
        action="store_true",
        help="drop PATHS that no project holds instead of refusing them (for hooks that "
        "pass every changed file, e.g. pre-commit)",
    )
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


def _add_server(server: argparse.ArgumentParser) -> None:
    """``corral server``'s subcommands."""
    server_commands = server.add_subparsers(dest="server_command", required=True)
    start = server_commands.add_parser(
        "start", help="start it (in the background, unless --foreground)"
    )
    start.add_argument(
        "--foreground", action="store_true", help="serve in this process until stopped"
    )
    start.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long without a client or a run (default: 10800, or "
        "CORRAL_SERVER_IDLE_TIMEOUT)",
    )
    server_commands.add_parser("stop", help="stop it (runs are cancelled, runners stopped)")
    server_commands.add_parser("restart", help="stop it if it runs, then start it")
    server_status = server_commands.add_parser(
        "status", help="pid, uptime, endpoint, version, clients, runners"
    )
    server_status.add_argument("--format", choices=["text", "json"], default="text", dest="output")
    logs = server_commands.add_parser("logs", help="print its log")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


def _add_server_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``--server`` / ``--no-server`` (one or the other) into ``args.server``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--server",
        dest="server",
        action="store_const",
        const=True,
        default=default,
        help="use the workspace's server (the default, except on CI)",
    )
    where.add_argument(
        "--no-server",
        dest="server",
        action="store_const",
        const=False,
        default=default,
        help="run the Workspace Manager in this command (as CORRAL_SERVER=0 does)",
    )


class _Version(argparse.Action):
    """``--version``: Corral's installed distributions and their versions, then exit 0
    (looked up only when asked: every other command starts without it)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        lines = []
        for dist in VERSIONED:
            try:
                lines.append(f"{dist} {version(dist)}")
            except PackageNotFoundError:
                continue
        sys.stdout.write("\n".join(lines) + "\n")
        parser.exit()
