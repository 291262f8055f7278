"""Fuzz targets: what Corral must survive, and the property each input is checked against.

Three targets, each a Hypothesis strategy of inputs plus a checker that raises
:class:`Finding` (with the input) when a property breaks:

* :class:`WireTarget`: bytes sent to a **real** Python runner (``python -m corral_runner``)
  over its real TCP transport, authenticated and initialized: well-framed requests of every
  method with values of every JSON type where params go, unknown methods, wrong ids, deep
  nesting, broken framing, invalid UTF-8, truncated bodies. After each input the runner
  must answer a ``$/ping`` on the same connection, unless the input was a fatal framing
  error: then the connection closes and the runner exits with 1 (SPEC.md §4: one
  connection per runner life), without a traceback, and a new runner is started. Every
  reply must be a well-formed JSON-RPC response; no request id may be answered twice.
* :func:`check_config`: a random ``[tool.corral]`` table (known and unknown keys, values
  of every TOML type, deep nesting) as a project's ``pyproject.toml``: loading it either
  works or raises :class:`~corral.config.ConfigError` naming that file; nothing is written
  anywhere.
* :func:`check_wal`: random WAL segment content (valid records, flipped bytes, records
  with a valid checksum and a body that is not a record, invalid UTF-8, truncation):
  ``read_wal``, ``build_history`` and ``verify_wal`` report damage, never raise.

Used by ``fuzz/run.py`` (long runs, counts and rates) and by ``tests/test_fuzz_slice.py``
(a short fixed-seed slice in the test suite).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import strategies as st

__all__ = [
    "Finding",
    "WireTarget",
    "check_config",
    "check_wal",
    "config_tables",
    "wal_segments",
    "wire_cases",
    "wire_inputs",
]

METHODS = (
    "initialize",
    "initialized",
    "runner/configure",
    "actions/run",
    "$/ping",
    "$/cancelRequest",
    "$/progress",
    "runner/log",
    "project/runAction",
    "workspace/runAction",
    "no/such/method",
    "",
)
"""Every method of the runner protocol a WM may send, plus a few it never should (``shutdown``
and ``exit`` are left out: they end the runner by design)."""


class Finding(AssertionError):
    """A property broke; the message holds the input that broke it."""


# --- strategies ---------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def _deep(depth: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":7,"method":"$/ping","params":' + b"[" * depth + b"]" * depth + b"}"
    )


def _frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    message: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "1.0", None]))}
    if message["jsonrpc"] is None:
        del message["jsonrpc"]
    if draw(st.booleans()):
        message["id"] = draw(
            st.integers(min_value=1000, max_value=2**40) | st.text(max_size=8) | json_values
        )
    message["method"] = draw(st.sampled_from(METHODS) | st.text(max_size=20))
    if draw(st.booleans()):
        message["params"] = draw(json_values)
    if message.get("method") == "actions/run" and draw(st.booleans()):
        message["params"] = {
            "action": draw(st.sampled_from(["echo", "nope", ""])),
            "params": draw(json_values),
            "runId": draw(st.text(max_size=8) | st.integers()),
            "parentRunId": None,
            "depth": draw(st.integers(min_value=-2, max_value=200)),
        }
    return _frame(msgspec.json.encode(message))


@st.composite
def _broken(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=200))
    kind = draw(st.sampled_from(["raw", "short", "garbage-header", "not-utf8", "deep", "json"]))
    if kind == "raw":
        return draw(st.binary(min_size=1, max_size=300))
    if kind == "short":
        return _frame(body, max(0, len(body) - draw(st.integers(1, 5))))
    if kind == "garbage-header":
        return draw(st.binary(min_size=1, max_size=40)) + b"\r\n\r\n" + body
    if kind == "not-utf8":
        return _frame(b'{"jsonrpc":"2.0","id":5,"method":"\xff\xfe"}')
    if kind == "deep":
        return _frame(_deep(draw(st.sampled_from([100, 128, 129, 1000, 5000]))))
    return _frame(draw(st.text(max_size=120)).encode())


wire_inputs = st.one_of(_request(), _request(), _broken())
"""One input: the bytes sent to an initialized runner connection."""

wire_cases = st.tuples(
    st.sampled_from(["authenticated", "authenticated", "candidate"]), wire_inputs
)
"""(where, input): on the initialized connection, or on a new unauthenticated one."""

_known_keys = (
    "presets", "actions", "envs", "runner", "handlers", "mode", "dependencies", "source",
    "env", "config", "name", "enabled", "kind", "python", "install_project", "run_timeout",
    "ping_interval", "idle_shutdown", "restart", "backoff",
)  # fmt: skip
_toml_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
_table_keys = st.sampled_from(_known_keys) | st.text(min_size=1, max_size=10)
toml_values = st.recursive(
    _toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(_known_keys) | st.text(min_size=1, max_size=10), inner, max_size=4
        )
    ),
    max_leaves=20,
)
config_tables = st.dictionaries(
    st.sampled_from(_known_keys) | st.text(min_size=1, max_size=10), toml_values, max_size=6
)
"""A random ``[tool.corral]`` table."""


@st.composite
def _wal_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["record", "checksummed", "flipped", "raw", "truncated"]))
    record = {
        "v": draw(st.sampled_from([1, 1, 2, 0])),
        "writer": "runner-x-1-abc",
        "seq": draw(st.integers(min_value=-1, max_value=5)),
        "ts": draw(st.sampled_from(["2026-12-04T01:11:41.345473Z", "yesterday", ""])),
        "event": draw(st.sampled_from(["run.accepted", "run.finished", "wal.opened", "x"])),
        "runId": draw(st.none() | st.text(max_size=6)),
        "parentRunId": None,
        "project": None,
        "env": None,
        "action": None,
        "payload": draw(json_values),
    }
    body = msgspec.json.encode(record)
    if kind == "checksummed":
        body = draw(st.binary(max_size=80))
    line = b"%08x %s\n" % (zlib.crc32(body) & 0xFFFFFFFF, body)
    if kind == "flipped" and line:
        at = draw(st.integers(0, len(line) - 1))
        line = line[:at] + bytes([line[at] ^ 0xFF]) + line[at + 1 :]
    if kind == "raw":
        line = draw(st.binary(max_size=100))
    if kind == "truncated":
        line = line[: draw(st.integers(0, len(line)))]
    return line


wal_segments = st.lists(_wal_line(), max_size=8).map(b"".join)
"""The content of one WAL segment file."""


# --- checkers ------------------------------------------------------------------------------


def check_config(table: dict[str, Any], scratch: Path) -> None:
    """Load a project whose ``[tool.corral]`` is ``table`` (see the module docstring)."""
    from corral.config import ConfigError, load_project  # noqa: PLC0415

    project = Path(tempfile.mkdtemp(dir=scratch))
    text = _to_toml({"project": {"name": "p", "version": "0"}, "tool": {"corral": table}})
    (project / "pyproject.toml").write_text(text)
    before = sorted(scratch.rglob("*"))
    try:
        load_project(project)
    except ConfigError as exc:
        if exc.file != project / "pyproject.toml":
            raise Finding(f"config error names {exc.file}, not the file: {text!r}") from exc
    except Exception as exc:
        raise Finding(f"{type(exc).__name__}: {exc} for {text!r}") from exc
    after = sorted(scratch.rglob("*"))
    if after != before:
        raise Finding(f"loading wrote {set(after) - set(before)} for {text!r}")
    shutil.rmtree(project)


def _to_toml(value: dict[str, Any]) -> str:
    """TOML text for ``value``: every table inline under its top-level keys."""
    lines = []
    for name, table in value.items():
        lines.append(f"[{name}]")
        lines.extend(f"{_key(k)} = {_inline(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return msgspec.json.encode(key).decode()


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"


def check_wal(content: bytes, scratch: Path) -> None:
    """Read a WAL directory holding one segment of ``content`` (see the module docstring)."""
    from corral_wal.reader import read_wal  # noqa: PLC0415
    from corral_wal.tree import build_history  # noqa: PLC0415
    from corral_wal.verify import verify_wal  # noqa: PLC0415

    wal = Path(tempfile.mkdtemp(dir=scratch))
    stream = wal / "runner-x-1-abc"
    stream.mkdir()
    (stream / "00000000000000000000.wal").write_bytes(content)
    try:
        scan = read_wal(wal)
        build_history(scan.records)
        verify_wal(wal)
    except Exception as exc:
        raise Finding(f"{type(exc).__name__}: {exc} reading {content!r}") from exc


# --- the wire target ------------------------------------------------------------------------


@dataclass
class WireStats:
    inputs: int = 0
    sessions_ended: int = 0
    """Inputs that closed the connection (fatal framing errors): the runner exited with 1."""
    replies: int = 0
    candidates: int = 0
    """Inputs sent on a new, unauthenticated connection."""
    peak_rss_kib: int = 0
    rss_growth_kib: int = 0
    """The most one runner's RSS grew over its life (from just after it was configured)."""


class WireTarget:
    """A real runner and a raw, initialized connection to it (see the module docstring).
    Synchronous (blocking sockets), so that Hypothesis can drive it directly."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.stats = WireStats()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.port = 0
        self.token = ""
        self._buffer = b""
        self._ping_id = 10**15

    def start(self) -> None:
        from corral_protocol.messages import LaunchRecord  # noqa: PLC0415

        self.token = os.urandom(32).hex()
        record = LaunchRecord(
            protocol=["1.0"],
            token=self.token,
            project=str(self.project),
            env="fuzz",
            wal_dir=None,
            parent_pid=os.getpid(),
            log_level="warning",
            conformance=True,
        )
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corral_runner"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            cwd=self.project,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(msgspec.json.encode(record) + b"\n")
        self.proc.stdin.close()
        hello = msgspec.json.decode(self.proc.stdout.readline())
        self.port = int(hello["port"])
        self.connect()
        self._base_rss = self.rss_kib()

    def connect(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self._buffer = b""
        self._call("initialize", {
            "protocolVersion": "1.0", "token": self.token,
            "clientInfo": {"name": "fuzz", "version": "0"}, "capabilities": {},
        })  # fmt: skip
        self._send(_frame(b'{"jsonrpc":"2.0","method":"initialized","params":{}}'))
        self._call("runner/configure", {
            "actions": {"echo": {"handlers": [{"name": "h", "source": "conformance/echo"}]}}
        })  # fmt: skip

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.stderr.close()

    def rss_kib(self) -> int:
        assert self.proc is not None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def _messages(self, deadline: float) -> list[Any]:
        """Read until at least one frame arrives or ``deadline``; the frames read."""
        from corral_protocol.framing import Frame, FrameDecoder  # noqa: PLC0415

        assert self.sock is not None
        decoder = FrameDecoder()
        out: list[Any] = []
        data = self._buffer
        self._buffer = b""
        while True:
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    out.append(msgspec.json.decode(event.body))
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return out
            if not data:
                raise ConnectionResetError("closed by the runner")

    def _call(self, method: str, params: Any) -> Any:
        self._ping_id += 1
        ident = self._ping_id
        self._send(
            _frame(
                msgspec.json.encode(
                    {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
                )
            )
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in self._messages(deadline):
                if isinstance(message, dict) and message.get("id") == ident:
                    if "error" in message:
                        raise Finding(f"{method} refused: {message['error']}")
                    return message.get("result")
        raise Finding(f"no answer to {method} within 10 s")

    def check_case(self, case: tuple[str, bytes]) -> None:
        """One of :data:`wire_cases`."""
        where, data = case
        if where == "candidate":
            self.check_candidate(data)
        else:
            self.check(data)

    def check_candidate(self, data: bytes) -> None:
        """Send ``data`` on a new connection that never authenticates: whatever it gets back
        is well-formed (refusals), and the runner's own connection is not disturbed."""
        self.stats.inputs += 1
        self.stats.candidates += 1
        address = ("127.0.0.1", self.port)
        with (
            socket.create_connection(address, timeout=5) as candidate,
            contextlib.suppress(OSError),
        ):
            candidate.sendall(data)
            candidate.settimeout(0.05)
            received = b""
            with contextlib.suppress(TimeoutError):
                while chunk := candidate.recv(65536):
                    received += chunk
            from corral_protocol.framing import Frame, FrameDecoder  # noqa: PLC0415

            for event in FrameDecoder().feed(received):
                if isinstance(event, Frame):
                    _check_reply(msgspec.json.decode(event.body), data)
        self.check(b"")  # the authenticated connection still answers its ping

    def check(self, data: bytes) -> None:
        """Send ``data``, then a ping; check the properties (see the module docstring)."""
        assert self.proc is not None
        self.stats.inputs += 1
        self._ping_id += 1
        ping = self._ping_id
        try:
            self._send(data)
            self._send(_frame(b'{"jsonrpc":"2.0","id":%d,"method":"$/ping","params":{}}' % ping))
            answered: dict[bytes, int] = {}
            ping_key = str(ping).encode()
            deadline = time.monotonic() + 5
            while ping_key not in answered and time.monotonic() < deadline:
                for message in self._messages(deadline):
                    self.stats.replies += 1
                    _check_reply(message, data)
                    if isinstance(message, dict) and message.get("id") is not None:
                        key = msgspec.json.encode(message["id"])
                        answered[key] = answered.get(key, 0) + 1
            doubles = [k for k, n in answered.items() if n > 1]
            if doubles:
                raise Finding(f"ids answered twice: {doubles} after {data!r}")
            rss = self.rss_kib()
            self.stats.peak_rss_kib = max(self.stats.peak_rss_kib, rss)
            self.stats.rss_growth_kib = max(self.stats.rss_growth_kib, rss - self._base_rss)
            if ping_key in answered:
                return
            if self.proc.poll() is None:
                raise Finding(f"no answer to $/ping within 5 s after {data!r}")
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            pass  # a fatal framing error closes the connection: checked below
        self._ended(data)

    def _ended(self, data: bytes) -> None:
        """The connection closed after ``data``: the runner must exit with 1, cleanly."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Finding(f"the connection closed but the runner lives on after {data!r}") from None
        self.stderr.seek(0)
        errors = self.stderr.read().decode(errors="replace")
        if code != 1 or "Traceback" in errors:
            raise Finding(f"the runner exited {code} after {data!r}:\n{errors[-2000:]}")
        self.stats.sessions_ended += 1
        self.close()
        self.start()


def _check_reply(message: Any, sent: bytes) -> None:
    if isinstance(message, list):
        for item in message:
            _check_reply(item, sent)
        return
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise Finding(f"malformed message {message!r} after {sent!r}")
    if "method" in message:
        return  # a notification (runner/log, $/progress...)
    if "id" not in message or ("result" in message) == ("error" in message):
        raise Finding(f"malformed reply {message!r} after {sent!r}")
    error = message.get("error")
    if error is not None and (
        not isinstance(error, dict)
        or not isinstance(error.get("code"), int)
        or not isinstance(error.get("message"), str)
    ):
        raise Finding(f"malformed error {error!r} after {sent!r}")
