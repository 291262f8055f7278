"""``corral mcp`` end to end: the MCP SDK's own client session drives the real ``corral mcp``
subprocess over stdio, against a real workspace (real WM server, real runners, real ruff).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from server_harness import ServerWorld, prepare_example, wait_until, world_of
from workspaces import make_handler_workspace

pytestmark = pytest.mark.timeout(300)

SLOW = textwrap.dedent(
    """
    import asyncio

    from corral_runner import ActionContext


    async def slow(ctx: ActionContext) -> dict:
        marker = ctx.project / "slow.state"
        marker.write_text("started")
        ctx.progress("sleeping")
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            marker.write_text("cancelled")
            raise
        return {}


    async def hello(ctx: ActionContext) -> dict:
        return {"diagnostics": [], "summary": {"hello": {}}}
    """
)
SLOW_PROJECT = textwrap.dedent(
    """
    [[actions.slow.handlers]]
    name = "slow"
    source = "handlers:slow"

    [[actions.hello.handlers]]
    name = "hello"
    source = "handlers:hello"
    """
)


@pytest.fixture(scope="module")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace with its envs prepared once (embedded), copied per test."""
    return prepare_example(tmp_path_factory.mktemp("example"), tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def world(prepared_example: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    yield from world_of(prepared_example, tmp_path)


@pytest.fixture
def slow_world(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[ServerWorld]:
    source = make_handler_workspace(tmp_path_factory.mktemp("slow"), ("alpha",), SLOW_PROJECT, SLOW)
    yield from world_of(source, tmp_path)


@asynccontextmanager
async def mcp_session(world: ServerWorld, **env: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "corral", "-C", str(world.root), "mcp"],
        env=world.env(**env),
        cwd=world.root,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 240))


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def test_tools_schemas_and_lint_findings_as_structured_content(world: ServerWorld) -> None:
    async def scenario() -> None:
        async with mcp_session(world) as session:
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(listed) == {
                "list_projects",
                "lint",
                "run_action",
                "format",
                "more_results",
                "status",
                "restart_runners",
                "run_history",
            }
            for tool in listed.values():
                assert tool.input_schema["type"] == "object"
                assert tool.output_schema is not None
                assert tool.output_schema["type"] == "object"
                jsonschema.Draft202012Validator.check_schema(tool.output_schema)
            assert listed["lint"].annotations.read_only_hint is True
            assert listed["format"].annotations.read_only_hint is False
            assert listed["format"].annotations.destructive_hint is True

            progress: list[str] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            result = await session.call_tool("lint", {}, progress_callback=on_progress)
            assert not result.is_error, text(result)
            content = result.structured_content
            jsonschema.validate(content, listed["lint"].output_schema)
            assert content["exitCode"] == 1
            (finding,) = content["findings"]
            assert (finding["file"], finding["code"]) == ("app/src/app/__init__.py", "F401")
            assert (finding["line"], finding["column"]) == (3, 8)
            assert finding["url"].startswith("https://docs.astral.sh/ruff/rules/")
            assert "app/src/app/__init__.py:3:8: F401" in text(result)
            assert {p["project"] for p in content["projects"]} == {"app", "lib"}

            projects = await session.call_tool("list_projects", {})
            listing = {p["project"]: p for p in projects.structured_content["projects"]}
            assert "lint" in listing["app"]["actions"]
            assert any(env["runner"] == "running" for env in listing["app"]["envs"])

            resources = {str(r.uri) for r in (await session.list_resources()).resources}
            assert {"corral://status", "corral://project/app/config"} <= resources
            config = await session.read_resource("corral://project/app/config")
            assert '"presets"' in config.contents[0].text

            history = await session.call_tool("run_history", {"runId": content["runId"]})
            assert not history.is_error, text(history)
            (item,) = history.structured_content["items"]
            assert item["runId"] == content["runId"]

    run(scenario())


def test_format_shows_a_diff_and_writes_only_when_asked(world: ServerWorld) -> None:
    module = world.root / "app" / "src" / "app" / "__init__.py"
    before = module.read_bytes()

    async def scenario() -> None:
        async with mcp_session(world) as session:
            dry = await session.call_tool("format", {"project": "app"})
            assert not dry.is_error, text(dry)
            (diff,) = dry.structured_content["files"]
            assert diff["file"] == "app/src/app/__init__.py"
            assert '-    return   "hello " + name' in diff["diff"]
            assert '+    return "hello " + name' in diff["diff"]
            assert module.read_bytes() == before  # nothing written

            wrote = await session.call_tool("format", {"project": "app", "write": True})
            assert not wrote.is_error, text(wrote)
            assert wrote.structured_content["changed"] == ["app/src/app/__init__.py"]

    run(scenario())
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "-"],
        input=before,
        capture_output=True,
        check=True,
    ).stdout
    assert module.read_bytes() == formatted


def test_paging_errors_and_a_broken_configuration(world: ServerWorld) -> None:
    lib = world.root / "lib" / "src" / "lib"
    for index in range(5):
        (lib / f"extra{index}.py").write_text("import os\nimport sys\n")

    async def scenario() -> None:
        async with mcp_session(world) as session:
            first = await session.call_tool("lint", {"limit": 4})
            page = first.structured_content
            assert (page["total"], len(page["findings"]), page["nextOffset"]) == (11, 4, 4)
            assert "7 more: call more_results" in text(first)
            seen = [f["file"] + f["code"] + str(f["line"]) for f in page["findings"]]
            offset = page["nextOffset"]
            while offset is not None:
                more = await session.call_tool(
                    "more_results", {"runId": page["runId"], "offset": offset, "limit": 4}
                )
                seen += [
                    f["file"] + f["code"] + str(f["line"])
                    for f in more.structured_content["findings"]
                ]
                offset = more.structured_content["nextOffset"]
            assert len(seen) == len(set(seen)) == 11

            wrong = await session.call_tool("lint", {"limit": "all"})
            assert wrong.is_error
            assert "limit" in text(wrong)
            unknown = await session.call_tool("run_action", {"action": "lintt"})
            assert unknown.is_error
            assert "unknown action 'lintt'" in text(unknown)
            assert "lint" in text(unknown)
            outside = await session.call_tool("lint", {"project": "nowhere"})
            assert outside.is_error
            assert "nowhere" in text(outside)

            pyproject = world.root / "app" / "pyproject.toml"
            pyproject.write_text(pyproject.read_text() + "\n[tool.corral.actions.lint]\nx = [\n")
            for _ in range(100):  # the server reloads it once its watcher saw the edit
                listing = await session.call_tool("list_projects", {})
                if any(p["error"] for p in listing.structured_content["projects"]):
                    break
                await asyncio.sleep(0.1)
            broken = await session.call_tool("lint", {})
            assert broken.is_error
            assert broken.structured_content["exitCode"] == 2, text(broken)
            (app,) = [p for p in broken.structured_content["projects"] if p["project"] == "app"]
            assert app["status"] == "error"
            assert "pyproject.toml" in app["message"]

    run(scenario())


def test_cancellation_and_a_crashed_runner(slow_world: ServerWorld) -> None:
    alpha = slow_world.root / "alpha"
    marker = alpha / "slow.state"

    async def scenario() -> None:
        async with mcp_session(slow_world) as session:
            progress: list[str] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(message or "")

            call = asyncio.ensure_future(
                session.call_tool(
                    "run_action",
                    {"action": "slow", "project": "alpha"},
                    progress_callback=on_progress,
                )
            )
            await asyncio.to_thread(
                wait_until,
                lambda: marker.exists() and marker.read_text() == "started",
                "the handler to start",
                120,
            )
            # The handler's progress reaches the MCP client as progress notifications.
            await asyncio.to_thread(wait_until, lambda: bool(progress), "progress", 30)
            assert any(m.startswith("alpha") for m in progress), progress
            call.cancel()  # the SDK client sends notifications/cancelled
            with pytest.raises(asyncio.CancelledError):
                await call
            await asyncio.to_thread(
                wait_until, lambda: marker.read_text() == "cancelled", "the handler's cancellation"
            )

            marker.unlink()
            crashing = asyncio.ensure_future(
                session.call_tool("run_action", {"action": "slow", "project": "alpha"})
            )
            await asyncio.to_thread(wait_until, marker.exists, "the handler to start again", 60)
            (pid,) = [r["pid"] for r in slow_world.status()["runners"] if r["state"] == "running"]
            os.kill(pid, signal.SIGKILL)
            crashed = await crashing
            assert crashed.is_error
            assert crashed.structured_content["exitCode"] == 3
            assert "alpha" in text(crashed)

            after = await session.call_tool("run_action", {"action": "hello", "project": "alpha"})
            assert not after.is_error, text(after)
            assert after.structured_content["exitCode"] == 0

    run(scenario())


def test_embedded_without_a_server(world: ServerWorld) -> None:
    async def scenario() -> None:
        async with mcp_session(world, CORRAL_SERVER="0") as session:
            status = await session.call_tool("status", {})
            assert status.structured_content["server"] is None
            result = await session.call_tool("lint", {"paths": ["app"]})
            assert [f["code"] for f in result.structured_content["findings"]] == ["F401"]

    run(scenario())
    assert world.records() == []  # no server was started


def test_without_the_sdk_it_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text("")
    hide_sdk = (
        "import sys; sys.modules['mcp'] = None; from corral.cli import main; sys.exit(main())"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_sdk, "-C", str(tmp_path), "mcp"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "pip install 'corral[mcp]'" in done.stderr
    assert "Traceback" not in done.stderr
