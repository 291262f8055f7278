"""``python -m corral_wal show|follow|verify`` (later ``corral wal ...``).

Exit codes: 0 success; 1 ``verify`` found damage, or ``show --run`` found no such run;
2 usage error or no WAL directory. Damage met by ``show``/``follow`` is reported on stderr
(and in ``show --format json``) while the intact records are still shown. ``follow`` prints
one line ``following <dir> (Ctrl-C stops)`` on stderr once the existing history is skipped:
every record written after that line appears on stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from corral_wal.follow import Follower
from corral_wal.reader import read_wal
from corral_wal.record import format_ts, parse_ts
from corral_wal.render import format_record_line, render_json, render_text
from corral_wal.tree import build_history
from corral_wal.verify import render_verify, verify_wal

__all__ = ["build_parser", "find_wal_dir", "main", "parse_since"]

PROG = "python -m corral_wal"

_EPILOG = """\
examples:
  {prog} show --run 3f2a9c             # one run's tree, all processes
  {prog} show --since 2h --format json # recent history for scripts
  {prog} follow --run 3f2a9c           # watch it live (Ctrl-C stops)
  {prog} verify --dir ws/.corral/wal   # exit 1 if anything is damaged

exit codes: 0 ok, 1 damage found (verify) or run not found (show --run),
2 usage error or no WAL directory.
"""

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> str:
    """``--since`` value → record timestamp: RFC 3339 instant, date, or ``90s/15m/2h/3d/1w``."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*", text)
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(
            seconds=float(match.group(1)) * _UNITS[match.group(2)]
        )
        return format_ts(moment)
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text.strip()):
            return format_ts(parse_ts(text.strip() + "T00:00:00Z"))
        return format_ts(parse_ts(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use an RFC 3339 instant (2026-11-21T07:30:00Z), "
            "a date (2026-11-21) or an age like 90s, 15m, 2h, 3d, 1w"
        ) from None


def find_wal_dir(start: Path | None = None) -> Path:
    """``.corral/wal`` of the nearest enclosing workspace (or ``./.corral/wal``)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / ".corral" / "wal"
        if candidate.is_dir():
            return candidate
    return here / ".corral" / "wal"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser (also the source of ``--help``); ``prog``: how the user invoked
    it (``corral wal`` when the ``corral`` CLI hands its arguments over)."""
    epilog = _EPILOG.format(prog=prog)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="WAL directory (default: .corral/wal of the nearest enclosing workspace)",
    )
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Read the durable write-ahead log of a Corral workspace: the merged, "
        "correlated history of the Workspace Manager's and every runner's stream.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = sub.add_parser(
        "show",
        parents=[common],
        help="runs as trees across processes, with durations and outcomes",
        description="Show the merged history: each run with its records from every "
        "process, its handlers, outcome and duration, and its child runs.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("--run", metavar="ID", help="only this run and its descendants")
    show.add_argument(
        "--since",
        metavar="TIME",
        type=parse_since,
        help="only top-level runs/records active at or after TIME: RFC 3339, a date, or an "
        "age (90s, 15m, 2h, 3d); ignored with --run",
    )
    show.add_argument("--format", choices=("text", "json"), default="text")
    follow = sub.add_parser(
        "follow",
        parents=[common],
        help="print records live as they are written (Ctrl-C stops)",
        description="Print new records of every stream as they are written, merged.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    follow.add_argument("--run", metavar="ID", help="only this run and its descendants")
    follow.add_argument("--format", choices=("text", "json"), default="text")
    follow.add_argument(
        "--from-start", action="store_true", help="print the existing history first"
    )
    follow.add_argument(
        "--interval", type=float, default=0.25, metavar="SECONDS", help="poll interval"
    )
    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="check checksums, seq gaps and torn tails; exit 1 on damage",
        description="Check every stream: frames and checksums, seq continuity (missing "
        "segments), segment names, torn tails. Exit code 1 if anything is damaged.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the CLI; return the exit code. ``prog`` names the command in help and errors."""
    args = build_parser(prog).parse_args(argv)
    wal_dir: Path = args.dir or find_wal_dir()
    if not wal_dir.is_dir():
        print(f"error: no WAL directory at {wal_dir} (use --dir)", file=sys.stderr)
        return 2
    commands: dict[str, Callable[[argparse.Namespace, Path], int]] = {
        "show": _show,
        "follow": _follow,
        "verify": _verify,
    }
    try:
        return commands[args.command](args, wal_dir)
    except BrokenPipeError:  # e.g. `... show | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _show(args: argparse.Namespace, wal_dir: Path) -> int:
    scan = read_wal(wal_dir)
    history = build_history(scan.records)
    items = history.items if args.since is None else history.since(args.since)
    if args.run is not None:
        node = history.runs.get(args.run)
        if node is None:
            print(f"error: no records of run {args.run!r} in {wal_dir}", file=sys.stderr)
            return 1
        items = [node]
    damage = scan.damage
    if args.format == "json":
        sys.stdout.write(render_json(items, damage))
    else:
        sys.stdout.write(render_text(items))
    if damage:
        print(
            f"warning: {len(damage)} damaged item(s) skipped; "
            f"run `python -m corral_wal verify --dir {wal_dir}` for details",
            file=sys.stderr,
        )
    return 0


def _follow(args: argparse.Namespace, wal_dir: Path) -> int:
    follower = Follower(wal_dir, from_start=args.from_start)
    # On stderr, so stdout stays records only: tells a person (and a script) that every
    # record written from now on will be shown.
    print(f"following {wal_dir} (Ctrl-C stops)", file=sys.stderr, flush=True)
    wanted: set[str] = {args.run} if args.run else set()
    try:
        while True:
            records, damage = follower.poll()
            for record in records:
                if wanted:
                    if record.run_id in wanted or record.parent_run_id in wanted:
                        wanted.add(record.run_id or "")
                    else:
                        continue
                if args.format == "json":
                    line = msgspec.json.encode(record).decode()
                else:
                    line = format_record_line(record)
                sys.stdout.write(line + "\n")
            for item in damage:
                print(f"damage: {item.describe()}", file=sys.stderr)
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def _verify(args: argparse.Namespace, wal_dir: Path) -> int:
    report = verify_wal(wal_dir)
    print(render_verify(report, args.format))
    return 0 if report.ok else 1
