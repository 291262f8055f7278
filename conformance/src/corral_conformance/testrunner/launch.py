"""Reading and checking the launch record (SPEC "Launch"), with its exit codes.

Exit codes when the runner cannot start (nothing on stdout, one line on stderr):
2 = launch record missing/unreadable/invalid, 3 = no protocol major in common,
4 = cannot bind/listen.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Final

from .variants import Breaks

__all__ = ["SPOKEN", "LaunchError", "LaunchRecord", "read_launch_record"]

SPOKEN: Final = ("1.1",)
"""Versions the test-only runner speaks: only its highest MINOR, as SPEC "Version numbers"
recommends (1.1 speaks 1.0 too; it adds nothing and exists to exercise negotiation)."""

_LIMIT: Final = 1024 * 1024
_VERSION: Final = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_LOOSE_VERSION: Final = re.compile(r"^[0-9]+\.[0-9]+$")
_TOKEN: Final = re.compile(r"^[0-9a-f]{32,128}$")
_ABS: Final = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)")
_REQUIRED: Final = (
    "protocol",
    "token",
    "project",
    "env",
    "walDir",
    "parentPid",
    "logLevel",
    "conformance",
)


class LaunchError(Exception):
    """The runner cannot start: ``code`` is its exit code, the message its stderr line."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    """The checked launch record."""

    protocol: tuple[str, ...]
    token: str
    project: str
    parent_pid: int
    log_level: str
    conformance: bool
    env: str = "conformance"
    wal_dir: str | None = None


_DEFAULT = LaunchRecord(("1.0",), "0" * 64, "/", 1, "info", True)


def _problem(record: Any, breaks: Breaks) -> str | None:
    """Why ``record`` is not a valid launch record, or None."""
    if not isinstance(record, dict):
        return "the launch record is not a JSON object"
    missing = [name for name in _REQUIRED if name not in record]
    if missing:
        return f"the launch record lacks {', '.join(missing)}"
    protocol = record["protocol"]
    if not isinstance(protocol, list) or not protocol:
        return "protocol must be a non-empty array"
    version = _LOOSE_VERSION if breaks("lenient-version-syntax") else _VERSION
    if not all(isinstance(v, str) and version.match(v) for v in protocol):
        return "protocol entries must be MAJOR.MINOR strings"
    checks = [
        (isinstance(record["token"], str) and _TOKEN.match(record["token"]), "token"),
        (isinstance(record["project"], str) and _ABS.match(record["project"]), "project"),
        (isinstance(record["env"], str) and record["env"] != "", "env"),
        (record["walDir"] is None or isinstance(record["walDir"], str), "walDir"),
        (type(record["parentPid"]) is int and record["parentPid"] >= 1, "parentPid"),
        (record["logLevel"] in ("debug", "info", "warning", "error"), "logLevel"),
        (type(record["conformance"]) is bool, "conformance"),
    ]
    for ok, name in checks:
        if not ok:
            return f"invalid {name} in the launch record"
    return None


def _majors(versions: Any) -> set[int]:
    return {int(v.split(".")[0]) for v in versions}


def _parse(line: bytes, breaks: Breaks) -> dict[str, Any]:
    """The checked record of one stdin line; raise LaunchError (exit 2)."""
    if not line.endswith(b"\n"):
        raise LaunchError(2, "no launch record line on stdin")
    try:
        record = json.loads(line.decode("utf-8"))
    except ValueError as exc:
        raise LaunchError(2, f"the launch record is not JSON: {exc}") from None
    problem = _problem(record, breaks)
    if problem is not None:
        raise LaunchError(2, problem)
    if breaks("strict-launch-record") and set(record) - set(_REQUIRED):
        raise LaunchError(2, "unknown members in the launch record")
    checked: dict[str, Any] = record
    return checked


def read_launch_record(breaks: Breaks) -> LaunchRecord:
    """Read one line from stdin and check it; raise LaunchError on failure."""
    line = sys.stdin.buffer.readline(_LIMIT + 1)
    try:
        record = _parse(line, breaks)
    except LaunchError:
        if breaks("lenient-launch-record"):
            return _DEFAULT
        raise
    offered = record["protocol"][:1] if breaks("first-protocol-only") else record["protocol"]
    if not (_majors(offered) & _majors(SPOKEN)) and not breaks("ignore-protocol-mismatch"):
        raise LaunchError(3, f"no common protocol major: offered {record['protocol']}")
    return LaunchRecord(
        tuple(record["protocol"]),
        record["token"],
        record["project"],
        record["parentPid"],
        record["logLevel"],
        record["conformance"],
        record["env"],
        record["walDir"],
    )
