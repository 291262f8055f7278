"""Processes a handler starts through ``ctx.run_process`` end with the run when it is
cancelled, and with the runner when it exits: the whole tree, grandchildren included.

Each handler starts ``python -c SPAWNER pidfile``, which starts ``sleep 77`` and writes its
pid: the sleep is a grandchild of the runner, so killing the direct child alone would leave
it running (Linux: processes are looked up in /proc).
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from corral_protocol import ErrorCode, RpcError
from process_tree import SPAWNER, alive, kill_leftovers, wait_for
from runner_harness import run, running

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

HANDLERS = f"SPAWNER = {SPAWNER!r}\n" + textwrap.dedent(
    """
    import sys

    from corral_runner import ActionContext


    async def tree(ctx: ActionContext) -> dict:
        done = await ctx.run_process([sys.executable, "-c", SPAWNER, ctx.params["pidfile"]])
        return {"returncode": done.returncode}


    def sync_tree(ctx: ActionContext) -> dict:
        argv = [sys.executable, "-c", SPAWNER, ctx.params["pidfile"]]
        done = ctx.wait(ctx.run_process(argv))
        return {"returncode": done.returncode}


    async def echo(ctx: ActionContext) -> dict:
        done = await ctx.run_process(
            [sys.executable, "-c", "import sys; d = sys.stdin.read(); print(d.upper()); "
             "print('warn', file=sys.stderr); sys.exit(3)"],
            stdin=b"hello",
        )
        return {
            "returncode": done.returncode,
            "stdout": done.stdout.decode(),
            "stderr": done.stderr.decode(),
            "argv0": done.argv[0],
        }
    """
)


@pytest.fixture
def tree_project(project: Path) -> Iterator[Path]:
    """The project with ``tree_handlers.py``; any sleep a failed test left is killed."""
    (project / "tree_handlers.py").write_text(HANDLERS)
    yield project
    kill_leftovers(project.glob("*.pid"))


async def started_sleep(pidfile: Path) -> int:
    """The pid of the sleep the handler's spawner started (waits for its pid file)."""
    await wait_for(lambda: pidfile.exists() and pidfile.read_text(), "the spawner to start")
    pid = int(pidfile.read_text())
    assert alive(pid)
    return pid


@pytest.mark.parametrize("handler", ["tree", "sync_tree"])
def test_cancelling_a_run_ends_the_process_tree_its_handler_started(
    tree_project: Path, handler: str
) -> None:
    pidfile = tree_project / f"{handler}.pid"

    async def scenario() -> None:
        async with running(tree_project) as runner:
            await runner.configure({"tree": [("t", f"tree_handlers:{handler}")]})
            task = asyncio.create_task(runner.run("tree", {"pidfile": str(pidfile)}))
            sleep = await started_sleep(pidfile)
            (request_id,) = runner.conn.protocol.pending_outgoing
            runner.conn.notify("$/cancelRequest", {"id": request_id})
            with pytest.raises(RpcError) as info:
                await task
            assert info.value.code == ErrorCode.REQUEST_CANCELLED
            await wait_for(lambda: not alive(sleep), "the grandchild sleep to end", 5)
            assert runner.proc.returncode is None  # the runner itself serves on

    run(scenario())


def test_a_runner_that_exits_ends_the_process_trees_of_its_runs(tree_project: Path) -> None:
    pidfile = tree_project / "exit.pid"

    async def scenario() -> None:
        async with running(tree_project) as runner:
            await runner.configure({"tree": [("t", "tree_handlers:tree")]})
            task = asyncio.create_task(runner.run("tree", {"pidfile": str(pidfile)}))
            sleep = await started_sleep(pidfile)
            runner.conn.close()  # the WM went away: the runner exits
            await runner.wait_exit()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await wait_for(lambda: not alive(sleep), "the grandchild sleep to end", 5)

    run(scenario())


def test_run_process_captures_output_and_feeds_stdin(tree_project: Path) -> None:
    async def scenario() -> None:
        async with running(tree_project) as runner:
            await runner.configure({"echo": [("e", "tree_handlers:echo")]})
            result = await runner.run("echo")
            assert result.status == "ok", result.handlers
            assert result.result == {
                "returncode": 3,
                "stdout": "HELLO\n",
                "stderr": "warn\n",
                "argv0": sys.executable,
            }

    run(scenario())
