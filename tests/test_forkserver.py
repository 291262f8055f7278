"""Runners forked from the fork server, end to end: real envs made by uv, real processes.

Each runner must be what ``python -m corral_runner`` in its own env would have been (its
env's prefix, interpreter and import path, its project as cwd, its own session), and the
supervisor must see forked runners exactly like spawned ones (exit codes, crashes,
restarts), including when the fork server itself dies.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import uv
from corral.cli.app import main as app_main
from corral.forkhint import BOOTSTRAP, prestart, record_path, write_hint
from corral.reports import ProjectReport
from corral.supervisor import RunnerState
from corral.supervisor.forkserver import ForkServers
from corral.workspace import WorkspaceManager
from workspaces import make_handler_workspace, with_wm

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux-only")

HANDLERS = textwrap.dedent(
    """
    import os
    import sys
    import sysconfig

    import corral_runner
    import msgspec
    from corral_runner import ActionContext


    def where(ctx: ActionContext) -> dict:
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "sid": os.getsid(0),
            "prefix": sys.prefix,
            "executable": sys.executable,
            "path": sys.path,
            "cwd": os.getcwd(),
            "no_site": sys.flags.no_site,
            "scripts": sysconfig.get_path("scripts"),
            "modules": [corral_runner.__file__, msgspec.__file__, *corral_runner.__path__],
            "typing_extensions": "typing_extensions" in sys.modules,
        }


    def crash(ctx: ActionContext) -> dict:
        os._exit(3)
    """
)

PROJECT = textwrap.dedent(
    """
    [envs.dev_no_runtime]
    dependencies = []

    [[actions.where.handlers]]
    name = "where"
    source = "handlers:where"

    [[actions.crash.handlers]]
    name = "crash"
    source = "handlers:crash"
    """
)


NOISY_PYPROJECT = """\
[project]
name = "noisy"
version = "0"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

NOISY = textwrap.dedent(
    """
    import os
    import sys

    IMPORTED_IN = os.getpid()
    print("noisy: imported")  # at import: must never reach a hello or the server's answers
    sys.stdout.buffer.write(b"noisy: raw bytes\\n")


    def where(ctx):
        return {"importedIn": IMPORTED_IN, "ppid": os.getppid(), "file": __file__}
    """
)

NOISY_ACTION = """
[[actions.noisy-where.handlers]]
name = "noisy"
source = "noisy:where"
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha and beta: the same packages. gamma also has typing_extensions, which msgspec
    imports when it is there: a fork server preloaded without it must not fork gamma."""
    root = tmp_path_factory.mktemp("forked")
    make_handler_workspace(root, ("alpha", "beta"), PROJECT, HANDLERS)
    gamma = PROJECT.replace("dependencies = []", 'dependencies = ["typing_extensions"]')
    delta = root / "delta" / "pkgsrc"  # an installed handler package (not in the project root)
    (delta / "noisy").mkdir(parents=True)
    (delta / "pyproject.toml").write_text(NOISY_PYPROJECT)
    (delta / "noisy" / "__init__.py").write_text(NOISY)
    (root / "delta" / "corral.toml").write_text(
        PROJECT.replace("dependencies = []", 'dependencies = ["./pkgsrc"]') + NOISY_ACTION
    )
    (root / "delta" / "handlers.py").write_text(HANDLERS)
    return make_handler_workspace(root, ("gamma",), gamma, HANDLERS)


async def where(wm: WorkspaceManager, project: Path) -> dict[str, Any]:
    result = await wm.run("where", project=project)
    assert isinstance(result, ProjectReport)
    assert result.status == "ok", result.handlers
    facts: dict[str, Any] = result.result
    facts["command"] = command_line(facts["ppid"])
    return facts


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_runners_are_forked_into_their_own_envs(workspace: Path) -> None:
    facts: dict[str, dict[str, Any]] = {}

    async def body(wm: WorkspaceManager) -> None:
        for name in ("alpha", "beta", "gamma"):
            facts[name] = await where(wm, workspace / name)

    with_wm(workspace, body, wal=False)
    alpha, beta, gamma = facts["alpha"], facts["beta"], facts["gamma"]
    server = alpha["ppid"]
    assert beta["ppid"] == server != os.getpid()  # both from one fork server, not the WM
    assert alpha["pid"] != beta["pid"]
    # gamma's env has a package alpha's server looked for and missed: another server
    assert gamma["ppid"] not in (server, os.getpid())
    assert "corral_runner.forkserver" in gamma["command"]
    assert gamma["typing_extensions"]
    assert not alpha["typing_extensions"]
    for name, seen in facts.items():
        project = workspace / name
        env = project / ".corral" / "envs" / "dev_no_runtime"
        assert seen["prefix"] == str(env)
        assert seen["executable"] == str(env / "bin" / "python")
        assert seen["scripts"] == str(env / "bin")  # sysconfig too: tools from this env
        assert seen["cwd"] == str(project)
        assert seen["sid"] == seen["pid"]  # its own session, like a spawned runner
        assert seen["no_site"] == 0  # child interpreters it starts get `site` as usual
        # the import path and every preloaded module's file are this env's only
        for other in {"alpha", "beta", "gamma"} - {name}:
            assert not [p for p in seen["path"] if p.startswith(str(workspace / other))]
        assert all(path.startswith(str(env / "lib")) for path in seen["modules"])
        assert str(env / "lib") in " ".join(seen["path"])
    assert gone(server), "the fork server outlived the WM"
    assert gone(gamma["ppid"]), "the fork server outlived the WM"


def test_a_forked_runner_that_crashes_is_reported_and_restarted(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        alpha = workspace / "alpha"
        first = await where(wm, alpha)
        crashed = await wm.run("crash", project=alpha)
        assert isinstance(crashed, ProjectReport)
        assert crashed.status == "failed"
        (outcome,) = crashed.handlers
        assert outcome.error is not None
        assert "exit code 3" in outcome.error.message
        runner = wm.runner(alpha, "dev_no_runtime")
        again = await where(wm, alpha)
        assert again["pid"] != first["pid"]
        assert again["ppid"] == first["ppid"]  # restarted through the same fork server
        assert runner.restarts == 1

    with_wm(workspace, body, wal=False)


def test_runners_of_a_lost_fork_server_are_killed_and_restarted(workspace: Path) -> None:
    async def body(wm: WorkspaceManager) -> None:
        alpha = workspace / "alpha"
        first = await where(wm, alpha)
        runner = wm.runner(alpha, "dev_no_runtime")
        assert "corral_runner.forkserver" in command_line(first["ppid"])
        os.kill(first["ppid"], signal.SIGKILL)
        while runner.state is RunnerState.RUNNING:
            await runner.wait_for_change()
        assert gone(first["pid"])
        again = await where(wm, alpha)
        assert again["ppid"] not in (first["ppid"], os.getpid())  # a new fork server
        assert runner.restarts == 1

    with_wm(workspace, body, wal=False)


def test_with_the_fork_server_off_runners_are_spawned(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_FORK_SERVER", "0")
    seen: dict[str, Any] = {}

    async def body(wm: WorkspaceManager) -> None:
        seen.update(await where(wm, workspace / "beta"))

    with_wm(workspace, body, wal=False)
    assert seen["ppid"] == os.getpid()


def test_what_the_fork_server_cannot_serve_is_left_to_an_ordinary_spawn(
    tmp_path: Path,
) -> None:
    """Another command, a plain venv without the runner (the server fails to start, once)."""
    venv = tmp_path / "plain"
    subprocess.run([uv.find_uv_bin(), "venv", "-q", str(venv)], check=True)
    python = str(venv / "bin" / "python")

    async def main() -> None:
        servers = ForkServers()
        try:
            assert await servers.spawn(["node", "runner.js"], tmp_path) is None
            assert await servers.spawn([python, "-m", "other"], tmp_path) is None
            started = time.monotonic()
            assert await servers.spawn([python, "-m", "corral_runner"], tmp_path) is None
            first = time.monotonic() - started
            assert await servers.spawn([python, "-m", "corral_runner"], tmp_path) is None
            assert time.monotonic() - started - first < first  # not started again
        finally:
            await servers.aclose()

    asyncio.run(main())


def test_bad_requests_get_a_refusal_not_a_fork(workspace: Path, tmp_path: Path) -> None:
    python = workspace / "alpha" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "python"
    odd = tmp_path / "odd-env"  # a pyvenv.cfg that is not UTF-8
    (odd / "bin").mkdir(parents=True)
    (odd / "pyvenv.cfg").write_bytes(b"home = \xff\xfe\n")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = subprocess.Popen(
        [str(python), "-c", BOOTSTRAP, str(theirs.fileno())],
        stdout=subprocess.PIPE,
        pass_fds=(theirs.fileno(),),
        cwd=python.parent.parent,
    )

    theirs.close()
    assert server.stdout is not None
    try:
        assert b'"ready"' in server.stdout.readline()
        ours.send(b"not json")
        assert b"bad request" in server.stdout.readline()
        r, w = os.pipe()
        socket.send_fds(ours, [b'{"python": "/x/bin/python", "cwd": "/"}'], [r])
        assert b"expected 3 file descriptors" in server.stdout.readline()
        os.close(r)
        os.close(w)
        fds = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
        socket.send_fds(ours, [b'{"python": "/nonexistent/bin/python", "cwd": "/"}'], fds)
        assert b"another interpreter" in server.stdout.readline()
        request = b'{"python": "%s", "cwd": "/"}' % str(odd / "bin" / "python").encode()
        socket.send_fds(ours, [request], fds)
        assert b"another interpreter" in server.stdout.readline()  # not UTF-8: no env
        nul = b'{"python": "/x\\u0000y/bin/python", "cwd": "/"}'
        socket.send_fds(ours, [nul], fds)  # open() raises ValueError: still just a refusal
        assert b"fork server error: ValueError" in server.stdout.readline()
        socket.send_fds(ours, [b"{}"], fds)  # and it still serves
        assert b"bad request" in server.stdout.readline()
        for fd in fds:
            os.close(fd)
    finally:
        ours.close()  # end of requests: the server exits (it has no children)
        assert server.wait(10) == 0
        server.stdout.close()


def test_a_child_that_dies_at_once_still_reports_its_exit(workspace: Path) -> None:
    """Its exit report can be read right behind the fork answer, before the spawner has
    registered the child (here: the loop is held while the child dies). Never lost."""
    python = str(workspace / "alpha" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "python")
    argv = [python, "-m", "corral_runner"]

    async def main() -> None:
        servers = ForkServers()
        try:
            warm = await servers.spawn(argv, workspace / "nope")  # starts the server
            assert warm is not None
            await warm.wait()
            warm.close()
            spawning = asyncio.create_task(servers.spawn(argv, workspace / "nope"))
            for _ in range(5):  # until the request is sent and the answer awaited
                await asyncio.sleep(0)
            time.sleep(0.5)  # hold the loop: the child fails chdir() and exits meanwhile
            child = await spawning
            assert child is not None
            async with asyncio.timeout(10):
                assert await child.wait() == 70  # EXIT_CHILD_FAILED
            assert b"FileNotFoundError" in await child.stderr.read()
            child.close()
        finally:
            await servers.aclose()

    asyncio.run(main())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache directory, where fork server records go."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_env_of_the_last_fork_server_is_recorded_and_started_early(
    workspace: Path, cache: Path
) -> None:
    """A ``corral run`` starts a fork server from the recorded env before importing the WM;
    the WM adopts it, and its runners are forked by it."""
    record = record_path(workspace)
    assert record.is_relative_to(cache)

    async def first(wm: WorkspaceManager) -> None:
        await where(wm, workspace / "alpha")

    with_wm(workspace, first, wal=False)
    recorded = json.loads(record.read_text())
    assert recorded["root"] == str(workspace)
    assert recorded["python"].startswith(str(workspace / "alpha" / ".corral" / "envs"))
    assert recorded["preload"] == ["handlers"]  # project-local: the server skips it
    assert record.stat().st_mode & 0o077 == 0  # the user's alone

    assert prestart(["lint"], cwd=workspace) is None  # not a command
    assert prestart(["status"], cwd=workspace) is None  # only `run` starts one
    early = prestart(["-C", str(workspace), "run", "where"])
    assert early is not None
    seen: dict[str, Any] = {}

    async def second(wm: WorkspaceManager) -> None:
        seen.update(await where(wm, workspace / "beta"))

    async def main() -> None:
        async with await WorkspaceManager.open(workspace, wal=False, fork_server=early) as wm:
            await second(wm)

    asyncio.run(main())
    assert seen["ppid"] == early.process.pid  # adopted, and it forked beta's runner
    assert early.taken
    assert early.process.poll() is not None  # closed with the WM
    inner = prestart(["run", "where"], cwd=workspace / "beta")  # found from a subdirectory
    assert inner is not None
    inner.close()


PYTHON = "{python}"


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (None, "no record"),
        ("not json", "malformed"),
        ({"root": "{root}", "preload": []}, "no python"),
        ({"root": "{root}", "python": "/usr/bin/python3"}, "not an env interpreter here"),
        ({"root": "{root}", "python": PYTHON, "preload": ["--evil"]}, "an option as a module"),
        ({"root": "/elsewhere", "python": PYTHON}, "recorded for another workspace"),
        ({"root": "{root}", "python": "{root}/../x/.corral/envs/e/bin/python"}, "climbs out"),
        ({"root": "{root}", "python": PYTHON, "mode": 0o666}, "others may write it"),
    ],
)
def test_a_record_that_is_missing_odd_or_untrusted_starts_nothing(
    workspace: Path, cache: Path, record: dict[str, Any] | str | None, why: str
) -> None:
    python = workspace / "alpha" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "python"
    path = record_path(workspace)
    path.parent.mkdir(parents=True)
    if isinstance(record, dict):
        mode = record.pop("mode", 0o600)
        text = json.dumps(record).replace("{root}", str(workspace))
        path.write_text(text.replace("{python}", str(python)))
        path.chmod(mode)
    elif record is not None:
        path.write_text(record)
    assert prestart(["run", "lint"], cwd=workspace) is None, why


def test_a_record_inside_the_workspace_is_ignored(workspace: Path, cache: Path) -> None:
    """A repository cannot ship a record: records are looked up in the user's cache."""
    planted = workspace / ".corral" / "forkserver.json"
    planted.parent.mkdir(exist_ok=True)
    python = workspace / "alpha" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "python"
    planted.write_text(json.dumps({"root": str(workspace), "python": str(python)}))
    assert prestart(["run", "lint"], cwd=workspace) is None
    planted.unlink()


def test_an_early_server_the_command_never_needed_is_stopped(workspace: Path, cache: Path) -> None:
    python = workspace / "alpha" / ".corral" / "envs" / "dev_no_runtime" / "bin" / "python"
    write_hint(workspace, str(python), ())
    early = prestart(["run", "where"], cwd=workspace)
    assert early is not None
    code = app_main(["-C", str(workspace), "run", "where", "-p", "no-equals-sign"], early=early)
    assert code == 2  # a usage error, before any WM
    assert early.taken
    assert early.process.poll() is not None


def test_installed_handler_modules_are_preloaded_and_what_they_print_harms_nothing(
    workspace: Path,
) -> None:
    """delta's env has the ``noisy`` package (its handler module prints at import): a fork
    server started for delta imports it once; its output goes to the server's stderr,
    never into a runner's hello or the server's answers."""
    seen: dict[str, Any] = {}

    async def body(wm: WorkspaceManager) -> None:
        await where(wm, workspace / "alpha")  # a server without `noisy`: refuses delta
        result = await wm.run("noisy-where", project=workspace / "delta")
        assert isinstance(result, ProjectReport)
        assert result.status == "ok", result.handlers
        seen.update(result.result)

    with_wm(workspace, body, wal=False)
    env = workspace / "delta" / ".corral" / "envs" / "dev_no_runtime"
    assert seen["importedIn"] == seen["ppid"] != os.getpid()  # imported by its server
    assert seen["file"].startswith(str(env / "lib"))  # and relocated into delta's env
