"""Shared by the WM server tests: real ``corral`` processes against a real server.

Every test gets its own runtime directory (records, sockets, logs) and a workspace copy;
at teardown the server is stopped and the test fails if any process started for its
workspace (server, runner, fork server, tool) is still alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

CORRAL = [sys.executable, "-m", "corral"]


@dataclass
class ServerWorld:
    """A workspace and a runtime directory of its own, and how to run ``corral`` there."""

    root: Path
    runtime: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "CORRAL_RUNTIME_DIR": str(self.runtime), "NO_COLOR": "1"}
        env["CORRAL_SERVER"] = "1"
        env.pop("CI", None)
        env.update(extra)
        return env

    def corral(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CORRAL, "-C", str(self.root), *args],
            check=False,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=timeout,
            env=env or self.env(),
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CORRAL, "-C", str(self.root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            env=env or self.env(),
        )

    def records(self) -> list[dict[str, Any]]:
        found = []
        for path in self.runtime.glob("*.json"):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return found

    def socket(self) -> Path:
        """The server's socket, as its record names it."""
        (record,) = self.records()
        endpoint: str = record["endpoint"]
        assert endpoint.startswith("unix:"), endpoint
        return Path(endpoint.removeprefix("unix:"))

    def socket_ready(self) -> bool:
        """Whether a server's record names a socket that exists (no client connects)."""
        records = self.records()
        return len(records) == 1 and self.socket().exists()

    def server_pid(self) -> int | None:
        status = self.corral("server", "status", "--format", "json")
        if status.returncode != 0:
            return None
        data = msgspec.json.decode(status.stdout)
        server = data.get("server")
        return None if server is None else int(server["pid"])

    def status(self) -> dict[str, Any]:
        result = self.corral("server", "status", "--format", "json")
        assert result.returncode == 0, result.stdout + result.stderr
        data: dict[str, Any] = msgspec.json.decode(result.stdout)
        return data


def processes_mentioning(*needles: str) -> dict[int, str]:
    """{pid: command line} of live processes whose command line or working directory
    mentions one of ``needles`` (zombies excluded)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if state == "Z":
            continue
        if any(n in cmdline or cwd.startswith(n) for n in needles):
            found[int(entry.name)] = cmdline
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def no_leftovers(world: ServerWorld) -> Iterator[ServerWorld]:
    """The world for the ``with`` body; then stop its server and require that nothing of
    it (server, runner, fork server, tool) still runs."""
    try:
        yield world
    finally:
        world.corral("server", "stop", timeout=60)
        needles = (str(world.root), str(world.runtime))
        with contextlib.suppress(AssertionError):  # what is left is named just below
            wait_until(lambda: not processes_mentioning(*needles), "no process left", 15)
        left = processes_mentioning(*needles)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == {}, f"processes left behind: {left}"


def prepare_example(parent: Path, runtime: Path) -> Path:
    """The example workspace's Python projects copied under ``parent`` with their envs
    prepared (embedded, runtime directory ``runtime``): prepared once per test module,
    copied for each test by :func:`world_of`."""
    from example_workspace import PYTHON_ONLY  # noqa: PLC0415

    root = parent / "workspace"
    example = Path(__file__).resolve().parents[1] / "examples" / "workspace"
    shutil.copytree(example, root, ignore=PYTHON_ONLY)
    prepared = ServerWorld(root, runtime).corral("--no-server", "prepare-envs")
    assert prepared.returncode == 0, prepared.stderr
    return root


def world_of(source: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    """A copy of ``source`` with its own runtime directory, for one test (``yield from`` it
    in a fixture); nothing of it may be left running afterwards (:func:`no_leftovers`)."""
    root = tmp_path / "ws"
    shutil.copytree(source, root, symlinks=True)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    with no_leftovers(ServerWorld(root, runtime)) as world:
        yield world
