"""Issue 17 item 9, end to end: Ctrl-C on ``corral run``, a cancelled run and a stopped
runner end every process the handler started, grandchildren included (Linux: /proc).

Real uv env, real runners, forked by the fork server (the default on Linux) and spawned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from corral.errors import RunCancelledError
from corral.workspace import WorkspaceManager
from process_tree import SPAWNER, alive, kill_leftovers, wait_until
from workspaces import make_handler_workspace, with_wm

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

HANDLERS = f"SPAWNER = {SPAWNER!r}\n" + textwrap.dedent(
    """
    import subprocess
    import sys

    from corral_runner import ActionContext


    async def tool(ctx: ActionContext) -> dict:
        pidfile = str(ctx.project / "tool.pid")
        await ctx.run_process([sys.executable, "-c", SPAWNER, pidfile])
        return {}


    def raw(ctx: ActionContext) -> dict:
        sleep = subprocess.Popen(["sleep", "77"])
        (ctx.project / "raw.pid").write_text(str(sleep.pid))
        sleep.wait()
        return {}
    """
)

PROJECT = textwrap.dedent(
    """
    [envs.dev_no_runtime]
    dependencies = []

    [[actions.tool.handlers]]
    name = "tool"
    source = "handlers:tool"

    [[actions.raw.handlers]]
    name = "raw"
    source = "handlers:raw"
    """
)


def pid_in(path: Path) -> int:
    wait_until(lambda: path.exists() and path.read_text(), f"{path.name}", 30)
    return int(path.read_text())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_handler_workspace(tmp_path_factory.mktemp("tree"), ("proj",), PROJECT, HANDLERS)


@pytest.fixture
def project(workspace: Path) -> Iterator[Path]:
    """The project, without pid files from an earlier test; leftover sleeps killed."""
    project = workspace / "proj"
    for old in project.glob("*.pid"):
        old.unlink()
    yield project
    kill_leftovers(project.glob("*.pid"))


@pytest.mark.parametrize("action", ["raw", "tool"])
def test_ctrl_c_on_corral_run_ends_the_handlers_processes(
    workspace: Path, project: Path, action: str
) -> None:
    cli = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "corral",
            "-C",
            str(workspace),
            "run",
            action,
            "--project",
            str(project),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's Ctrl-C goes to the CLI's group alone
    )
    try:
        sleep = pid_in(project / f"{action}.pid")
        assert alive(sleep)
        os.killpg(cli.pid, signal.SIGINT)
        _, stderr = cli.communicate(timeout=60)
        assert cli.returncode == 130, stderr
        assert "interrupted" in stderr
        wait_until(lambda: not alive(sleep), "the handler's sleep to end", 10)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.communicate()


@pytest.mark.parametrize("fork_server", ["1", "0"])
def test_a_cancelled_run_and_a_stopped_runner_end_the_handlers_processes(
    workspace: Path, project: Path, fork_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_FORK_SERVER", fork_server)
    sleeps: dict[str, int] = {}

    async def body(wm: WorkspaceManager) -> None:
        import asyncio  # noqa: PLC0415

        tool = asyncio.create_task(wm.run("tool", project=project, run_id="tool-run"))
        sleeps["tool"] = await asyncio.to_thread(pid_in, project / "tool.pid")
        assert wm.cancel("tool-run")
        with pytest.raises(RunCancelledError) as info:
            await tool
        assert info.value.run_id == "tool-run"
        await asyncio.to_thread(
            wait_until, lambda: not alive(sleeps["tool"]), "the cancelled tool's sleep", 10
        )
        runner = wm.runner(project, "dev_no_runtime")
        assert runner.status().pid is not None  # the runner serves on

        raw = asyncio.create_task(wm.run("raw", project=project))
        sleeps["raw"] = await asyncio.to_thread(pid_in, project / "raw.pid")
        await runner.stop("test stop")
        await asyncio.gather(raw, return_exceptions=True)
        await asyncio.to_thread(
            wait_until, lambda: not alive(sleeps["raw"]), "the stopped runner's child", 10
        )

    with_wm(workspace, body, wal=False)
