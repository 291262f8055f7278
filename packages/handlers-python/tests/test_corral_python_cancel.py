"""Cancelling a lint kills ruff: the run is answered -32800 and no ruff process is left
(Linux: processes are looked up in /proc).

ruff is fast, so "mid-run" is made certain rather than likely: besides a generated tree of
modules, the lint is given a FIFO named like a module. ruff blocks reading it (nothing ever
writes to it), so its process is alive, mid-lint, until it is killed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from corral_protocol import ErrorCode, RpcError
from process_tree import SPAWNER, alive, kill_leftovers, wait_for
from runner_harness import run, running, wait_until

LINT = "corral_python.ruff:lint"


def ruff_children(parent: int) -> dict[int, str]:
    """{pid: command line} of the live (non-zombie) ruff processes whose parent is
    ``parent``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ")"
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == parent and state != "Z" and "ruff" in cmdline:
            found[int(entry.name)] = cmdline
    return found


def test_cancelled_lint_kills_ruff(tmp_path: Path) -> None:
    project = tmp_path / "big"
    tree = project / "tree"
    for package in range(20):
        directory = tree / f"pkg{package}"
        directory.mkdir(parents=True)
        (directory / "__init__.py").write_text("")
        for module in range(20):
            body = "import os\n\n" + "".join(
                f"\ndef f{i}(a, b):\n    return a + b + {i}\n\n" for i in range(50)
            )
            (directory / f"mod{module}.py").write_text(body)
    (project / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["F"]\n')
    os.mkfifo(project / "blocker.py")

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"lint": [("ruff", LINT)]})
            pid = runner.proc.pid
            task = asyncio.create_task(runner.run("lint", {"paths": ["tree", "blocker.py"]}))
            await wait_until(
                lambda: any("--output-format=json" in c for c in ruff_children(pid).values()),
                "ruff check to start",
            )
            (ruff,) = [p for p, c in ruff_children(pid).items() if "--output-format=json" in c]
            assert not task.done()

            (request_id,) = runner.conn.protocol.pending_outgoing
            runner.conn.notify("$/cancelRequest", {"id": request_id})
            with pytest.raises(RpcError) as info:
                await task
            assert info.value.code == ErrorCode.REQUEST_CANCELLED

            # killed and reaped: not even a zombie is left
            await wait_until(lambda: not Path(f"/proc/{ruff}").exists(), "ruff to be gone", 5)
            assert ruff_children(pid) == {}

            # and the runner lints on
            result = await runner.run("lint", {"paths": ["tree/pkg0/mod0.py"]})
            assert result.status == "ok"
            assert result.result["summary"]["ruff"]["findings"] == 1

    run(scenario())


SPAWNING_HANDLER = """\
from corral_python.tools import Tool, run_tool

SPAWNER = Tool(name="spawner", module="corral_test_spawner", requirement="none")


async def spawn(ctx):
    run = await run_tool(ctx, SPAWNER, [ctx.params["pidfile"]])
    return {"returncode": run.returncode}
"""


def test_a_cancelled_tool_ends_with_the_processes_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_tool's tool starts `sleep 77` (a grandchild of the runner): cancelling the run
    ends both, not only the tool."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "corral_test_spawner.py").write_text(SPAWNER)
    monkeypatch.setenv("PYTHONPATH", str(modules))  # -P drops the cwd, not PYTHONPATH
    project = tmp_path / "project"
    project.mkdir()
    (project / "spawning.py").write_text(SPAWNING_HANDLER)
    pidfile = tmp_path / "sleep.pid"

    async def scenario() -> None:
        async with running(project) as runner:
            await runner.configure({"spawn": [("spawn", "spawning:spawn")]})
            task = asyncio.create_task(runner.run("spawn", {"pidfile": str(pidfile)}))
            await wait_for(lambda: pidfile.exists() and pidfile.read_text(), "the sleep")
            sleep = int(pidfile.read_text())
            assert alive(sleep)
            (request_id,) = runner.conn.protocol.pending_outgoing
            runner.conn.notify("$/cancelRequest", {"id": request_id})
            with pytest.raises(RpcError) as info:
                await task
            assert info.value.code == ErrorCode.REQUEST_CANCELLED
            try:
                await wait_for(lambda: not alive(sleep), "the grandchild sleep to end", 5)
            finally:
                kill_leftovers([pidfile])

    run(scenario())
