"""The ``corral-conformance`` command (also ``python -m corral_conformance``).

Sub-commands:

* ``run``      - run cases against a runner command; exit 0 all passed (or expected
  failures), 1 runner failures or a stale baseline, 2 harness errors or bad usage.
* ``list``     - print the ids (and descriptions) of the selected cases.
* ``validate`` - check case files against the case format (for case authors); exit 2 if
  any is invalid.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .loader import CaseLoader
    from .outcome import CaseResult

__all__ = ["main", "parse_runner_argv", "resolve_relative_paths"]

_SCALE_ENV = "CORRAL_CONFORMANCE_TIMEOUT_SCALE"


def parse_runner_argv(runner: str | None, runner_argv: str | None) -> list[str]:
    """The runner's argv from ``--runner`` (shlex-split) or ``--runner-argv`` (JSON array).

    Raises ValueError with a usage message when neither or a malformed one is given.
    """
    if runner_argv is not None:
        try:
            argv = json.loads(runner_argv)
        except ValueError as exc:
            raise ValueError(f"--runner-argv is not JSON: {exc}") from None
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("--runner-argv must be a non-empty JSON array of strings")
        return argv
    if runner is None:
        raise ValueError("give the runner command with --runner or --runner-argv")
    argv = shlex.split(runner)
    if not argv:
        raise ValueError("--runner is empty")
    return argv


def resolve_relative_paths(argv: list[str], cwd: Path | None = None) -> list[str]:
    """Make relative paths in the runner command absolute.

    The runner's cwd is the case's project directory (SPEC "Launch"), so a command written
    relative to the user's directory would break. The program (if it contains a path
    separator) and every other argument that names an existing *file* relative to ``cwd``
    are made absolute; everything else is left alone.
    """
    base = cwd or Path.cwd()
    out = []
    for index, arg in enumerate(argv):
        path = Path(arg)
        is_program = index == 0 and (os.sep in arg or "/" in arg)
        resolved = arg
        if not path.is_absolute() and not arg.startswith("-"):
            candidate = base / path
            if (is_program and candidate.exists()) or (index > 0 and candidate.is_file()):
                resolved = os.path.abspath(candidate)  # not resolve(): keep venv symlinks
        out.append(resolved)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corral-conformance",
        description="Run the Corral runner-protocol conformance suite against a runner.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--case",
            action="append",
            default=[],
            metavar="GLOB",
            help="run only cases whose id matches (repeatable), e.g. 'framing/*'",
        )
        p.add_argument("--cases-dir", type=Path, help="use the cases of this directory")

    run = sub.add_parser("run", help="run cases against a runner command")
    who = run.add_mutually_exclusive_group(required=True)
    who.add_argument("--runner", help="the runner command line, split like a POSIX shell")
    who.add_argument(
        "--runner-argv", metavar="JSON", help='the runner argv as a JSON array (["node","r.js"])'
    )
    selection(run)
    run.add_argument("--expected-failures", type=Path, metavar="FILE", help="baseline file")
    run.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    run.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    run.add_argument(
        "--timeout-scale",
        type=float,
        default=float(os.environ.get(_SCALE_ENV, "1.0")),
        help=f"multiply every timeout and wait (slow machines: 2 or 3; env {_SCALE_ENV})",
    )
    run.add_argument("--jobs", "-j", type=int, default=2, help="cases run at once (default 2)")
    run.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logLevel written in launch records",
    )
    run.add_argument(
        "--transcript", action="store_true", help="print the transcript of failed cases"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no per-case lines")

    listing = sub.add_parser("list", help="list the cases")
    selection(listing)
    validate = sub.add_parser("validate", help="check case files against the case format")
    selection(validate)
    return parser


def _loader(cases_dir: Path | None) -> CaseLoader:
    from .loader import CaseLoader  # noqa: PLC0415 - keep --help fast
    from .paths import cases_dir as default_dir  # noqa: PLC0415

    return CaseLoader(cases_dir or default_dir())


def _run(args: argparse.Namespace) -> int:
    from .baseline import load_baseline  # noqa: PLC0415
    from .context import RunOptions  # noqa: PLC0415
    from .report import case_line, json_report, junit_xml, summary_text  # noqa: PLC0415
    from .suite import exit_code, run_cases  # noqa: PLC0415
    from .transcript import render  # noqa: PLC0415

    try:
        argv = resolve_relative_paths(parse_runner_argv(args.runner, args.runner_argv))
    except ValueError as exc:
        print(f"corral-conformance: {exc}", file=sys.stderr)
        return 2
    if args.timeout_scale <= 0 or args.jobs < 1:
        print("corral-conformance: --timeout-scale must be > 0, --jobs >= 1", file=sys.stderr)
        return 2
    loader = _loader(args.cases_dir)
    cases = loader.select(args.case)
    if not cases:
        print(f"corral-conformance: no case matches {args.case}", file=sys.stderr)
        return 2
    baseline = None
    if args.expected_failures is not None:
        try:
            baseline = load_baseline(args.expected_failures)
        except (OSError, ValueError) as exc:
            print(f"corral-conformance: bad --expected-failures: {exc}", file=sys.stderr)
            return 2
    options = RunOptions(tuple(argv), timeout_scale=args.timeout_scale, log_level=args.log_level)
    print(f"corral-conformance: {len(cases)} cases against {shlex.join(argv)}", flush=True)

    def live(result: CaseResult) -> None:
        if baseline is not None:
            baseline.classify(result)
        if not args.quiet:
            print(case_line(result), flush=True)

    started = time.monotonic()
    results = asyncio.run(run_cases(cases, options, jobs=args.jobs, on_result=live))
    duration = time.monotonic() - started
    if baseline is not None:
        stale = baseline.unknown({loader.case_id(p) for p in loader.paths()})
        for result in stale:
            live(result)
        results += stale
    print()
    print(summary_text(results, duration))
    if args.transcript:
        for result in results:
            if result.status.value in ("fail", "harness-error"):
                print(f"\n-- transcript of {result.case_id}\n{render(result.transcript)}")
    if args.json is not None:
        document = json_report(
            results, runner_argv=argv, timeout_scale=args.timeout_scale, duration_s=duration
        )
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    if args.junit is not None:
        args.junit.write_text(junit_xml(results, duration_s=duration), encoding="utf-8")
    return exit_code(results)


def _list(args: argparse.Namespace) -> int:
    for loaded in _loader(args.cases_dir).select(args.case):
        about = loaded.case.description if loaded.case else f"INVALID: {loaded.error}"
        print(f"{loaded.id}\t{about}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    cases = _loader(args.cases_dir).select(args.case)
    for loaded in cases:
        if loaded.error is not None:
            bad += 1
            print(f"{loaded.path}: {loaded.error}")
    print(f"{len(cases) - bad} valid, {bad} invalid case files")
    return 2 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _list(args)
        return _validate(args)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        return 1


if __name__ == "__main__":
    sys.exit(main())
