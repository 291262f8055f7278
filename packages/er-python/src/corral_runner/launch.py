"""The launch phase: launch record in, listening socket bound, hello line out (SPEC.md §1-§2).

This module is imported before the hello, so it imports only what the hello needs (the
standard library's ``socket`` and the msgspec message types): asyncio and everything else
load after the hello is printed, while the WM is busy connecting.

A runner that cannot start prints nothing on stdout and exits non-zero with a one-line
reason on stderr: 2 for a bad launch record, 3 when no protocol major is shared, 4 when
it cannot listen.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import BinaryIO, Final

import msgspec
from corral_protocol.messages import Hello, LaunchRecord, RunnerInfo
from corral_protocol.versions import SUPPORTED_VERSIONS, negotiate

__all__ = [
    "EXIT_BAD_LAUNCH_RECORD",
    "EXIT_CANNOT_LISTEN",
    "EXIT_NO_COMMON_PROTOCOL",
    "RUNNER_INFO",
    "LaunchError",
    "Launched",
    "launch",
    "read_launch_record",
]

EXIT_BAD_LAUNCH_RECORD: Final = 2
EXIT_NO_COMMON_PROTOCOL: Final = 3
EXIT_CANNOT_LISTEN: Final = 4
MAX_LAUNCH_LINE: Final = 1024 * 1024

RUNNER_INFO: Final = RunnerInfo(name="corral-runner", version="0.1.0", language="python")


class LaunchError(Exception):
    """The runner cannot start; ``exit_code`` is what the process exits with."""

    def __init__(self, exit_code: int, reason: str) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Launched:
    """The result of the launch phase: the record and the listening socket."""

    record: LaunchRecord
    listener: socket.socket
    port: int


def read_launch_record(stream: BinaryIO) -> LaunchRecord:
    """Read and validate the one launch line; raise :class:`LaunchError` (exit 2) on any flaw."""
    line = stream.readline(MAX_LAUNCH_LINE + 1)
    if not line:
        raise LaunchError(EXIT_BAD_LAUNCH_RECORD, "no launch record on stdin (EOF before a line)")
    if len(line) > MAX_LAUNCH_LINE:
        raise LaunchError(
            EXIT_BAD_LAUNCH_RECORD, f"launch record longer than {MAX_LAUNCH_LINE} bytes"
        )
    if not line.endswith(b"\n"):
        raise LaunchError(EXIT_BAD_LAUNCH_RECORD, "launch record not terminated by a newline")
    try:
        line.decode("utf-8")  # msgspec does not check UTF-8 inside members it skips
    except UnicodeDecodeError as exc:
        raise LaunchError(EXIT_BAD_LAUNCH_RECORD, f"launch record is not UTF-8: {exc}") from None
    try:
        return msgspec.json.decode(line, type=LaunchRecord)
    except msgspec.ValidationError as exc:
        raise LaunchError(EXIT_BAD_LAUNCH_RECORD, f"invalid launch record: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise LaunchError(
            EXIT_BAD_LAUNCH_RECORD, f"launch record is not a JSON object line: {exc}"
        ) from None


def _listen() -> tuple[socket.socket, int]:
    try:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
    except OSError as exc:
        raise LaunchError(EXIT_CANNOT_LISTEN, f"cannot listen on 127.0.0.1: {exc}") from None
    listener.setblocking(False)
    return listener, int(listener.getsockname()[1])


def launch(stdin: BinaryIO, stdout: BinaryIO) -> Launched:
    """Run the launch phase; the hello line is written and flushed when this returns."""
    record = read_launch_record(stdin)
    if negotiate(SUPPORTED_VERSIONS, record.protocol) is None:
        raise LaunchError(
            EXIT_NO_COMMON_PROTOCOL,
            f"no common protocol major: WM speaks {record.protocol[:8]}, "
            f"this runner speaks {list(SUPPORTED_VERSIONS)}",
        )
    listener, port = _listen()
    hello = Hello(
        corral="hello",
        protocol=list(SUPPORTED_VERSIONS),
        port=port,
        pid=os.getpid(),
        runner=RUNNER_INFO,
    )
    stdout.write(msgspec.json.encode(hello) + b"\n")
    stdout.flush()
    return Launched(record, listener, port)


def fail(error: LaunchError) -> None:
    """Report a launch failure the way SPEC.md §1 requires and exit."""
    sys.stderr.write(f"corral-runner: {error.reason}\n")
    sys.stderr.flush()
    raise SystemExit(error.exit_code)
