"""The WM server end to end: real ``corral`` clients, a real detached server, real runners.

Each test has its own runtime directory and workspace (see :mod:`server_harness`); the
teardown stops the server and fails the test if any of its processes is still alive.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from server_harness import (
    ServerWorld,
    alive,
    prepare_example,
    processes_mentioning,
    wait_until,
    world_of,
)
from workspaces import make_handler_workspace

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example workspace with its envs prepared once (embedded), copied per test."""
    return prepare_example(tmp_path_factory.mktemp("example"), tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def world(prepared_example: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    yield from world_of(prepared_example, tmp_path)


def normalise(text: str, root: Path) -> Any:
    text = text.replace(str(root), "<ws>")
    text = re.sub(r'"(runId|durationMs)": ("[^"]*"|[0-9.e+-]+)', r'"\1": "<\1>"', text)
    return msgspec.json.decode(text)


def test_the_first_command_starts_a_server_and_the_next_ones_reuse_it(world: ServerWorld) -> None:
    first = world.corral("run", "lint", "--workspace")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "F401" in first.stdout
    assert "started a Corral server for" in first.stderr
    assert "corral server stop" in first.stderr
    [record] = world.records()
    assert record["root"] == str(world.root.resolve())
    assert oct(world.runtime.stat().st_mode & 0o777) == "0o700"
    files = sorted(world.runtime.iterdir())
    assert {p.suffix for p in files} == {".json", ".lock", ".log"}
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
    socket = world.socket()  # this runtime path is too long for a socket: the short dir
    assert socket.stat().st_mode & 0o077 == 0
    assert socket.parent.stat().st_mode & 0o077 == 0
    second = world.corral("run", "lint", "--workspace")
    assert second.returncode == 1
    assert "started" not in second.stderr
    status = world.status()
    assert status["server"]["pid"] == record["pid"]
    running = {(r["env"], r["state"]) for r in status["runners"]}
    assert ("dev_no_runtime", "running") in running  # warm between commands


def test_ten_clients_started_at_once_leave_exactly_one_server(world: ServerWorld) -> None:
    clients = [world.start("run", "lint", "--workspace") for _ in range(10)]
    outputs = [c.communicate(timeout=240) for c in clients]
    assert [c.returncode for c in clients] == [1] * 10, outputs
    assert all("F401" in out for out, _ in outputs)
    started = [err for _, err in outputs if "started a Corral server" in err]
    assert len(started) == 1, started
    servers = processes_mentioning("server start --foreground")
    mine = {pid: cmd for pid, cmd in servers.items() if str(world.root) in cmd}
    assert len(mine) == 1, mine


def test_a_server_killed_with_sigkill_takes_its_runners_along_and_is_replaced(
    world: ServerWorld,
) -> None:
    assert world.corral("run", "lint", "--workspace").returncode == 1
    status = world.status()
    server = status["server"]["pid"]
    runners = [r["pid"] for r in status["runners"] if r.get("pid")]
    assert runners
    os.kill(server, signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in runners), "the runners to exit", 15)
    again = world.corral("run", "lint", "--workspace")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "F401" in again.stdout
    assert "started a Corral server" in again.stderr  # the stale record was replaced
    assert world.status()["server"]["pid"] != server


def test_embedded_and_server_print_the_same_json(world: ServerWorld) -> None:
    embedded = world.corral("--no-server", "run", "lint", "--workspace", "--format", "json")
    served = world.corral("--server", "run", "lint", "--workspace", "--format", "json")
    assert embedded.returncode == served.returncode == 1, embedded.stderr + served.stderr
    assert normalise(embedded.stdout, world.root) == normalise(served.stdout, world.root)


def test_on_ci_commands_run_embedded_unless_asked(world: ServerWorld) -> None:
    env = world.env(CI="true")
    env.pop("CORRAL_SERVER")
    result = world.corral("run", "lint", "--workspace", env=env)
    assert result.returncode == 1, result.stderr
    assert world.records() == []
    assert "started" not in result.stderr
    asked = world.corral("--server", "run", "lint", "--workspace", env=env)
    assert asked.returncode == 1
    assert len(world.records()) == 1


def test_a_configuration_edit_takes_effect_without_a_restart(world: ServerWorld) -> None:
    assert world.corral("run", "lint", "--workspace").returncode == 1
    before = {(r["project"], r["env"]): r.get("pid") for r in world.status()["runners"]}
    pyproject = world.root / "app" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[[tool.corral.actions.lint.handlers]]\nname = "ruff"\n'
        + 'config = { ignore = ["F401"] }\n'
    )

    def clean() -> bool:
        return world.corral("run", "lint", "--workspace").returncode == 0

    wait_until(clean, "the edited configuration to be used", 20)
    after = {(r["project"], r["env"]): r.get("pid") for r in world.status()["runners"]}
    key = (str(world.root / "app"), "dev_no_runtime")
    assert before[key] is not None
    assert after[key] == before[key]  # the same runner, configured again


def test_a_new_project_is_picked_up(world: ServerWorld) -> None:
    assert world.corral("run", "lint", "--workspace").returncode == 1
    project = world.root / "extra"
    project.mkdir()
    (project / "corral.toml").write_text(
        '[[actions.lint.handlers]]\nname = "echo"\nsource = "corral_runner.fixtures:echo"\n'
    )

    def seen() -> bool:
        result = world.corral("run", "lint", "--workspace", "--format", "json")
        return str(project) in result.stdout

    wait_until(seen, "the new project to be linted", 60)


def test_an_idle_server_stops_by_itself(world: ServerWorld) -> None:
    started = world.corral("server", "start", "--idle-timeout", "1")
    assert started.returncode == 0, started.stderr
    (record,) = world.records()
    wait_until(lambda: not alive(record["pid"]), "the idle server to stop", 20)
    assert world.records() == []


def test_server_status_stop_and_logs(world: ServerWorld) -> None:
    missing = world.corral("server", "status")
    assert missing.returncode == 3
    assert "no Corral server runs" in missing.stdout
    assert world.corral("server", "start").returncode == 0
    shown = world.corral("server", "status")
    assert shown.returncode == 0
    assert re.search(r"^server: pid \d+, up \d+ s, version ", shown.stdout, re.M)
    logs = world.corral("server", "logs")
    assert "serving" in logs.stdout
    stopped = world.corral("server", "stop")
    assert stopped.returncode == 0
    assert "stopped the Corral server" in stopped.stdout
    assert world.records() == []
    assert world.corral("server", "stop").stdout.startswith("no Corral server runs")


SLOW = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path

    from corral_runner import ActionContext


    async def slow(ctx: ActionContext) -> dict:
        marker = ctx.project / "slow.state"
        marker.write_text("started")
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            marker.write_text("cancelled")
            raise
        return {}


    async def hello(ctx: ActionContext) -> dict:
        return {"hello": ctx.project.name}
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
def slow_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow")
    return make_handler_workspace(root, ("alpha", "beta"), SLOW_PROJECT, SLOW)


@pytest.fixture
def slow_world(slow_workspace: Path, tmp_path: Path) -> Iterator[ServerWorld]:
    yield from world_of(slow_workspace, tmp_path)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_a_client_interrupted_or_killed_mid_run_cancels_only_its_run(
    slow_world: ServerWorld, how: signal.Signals
) -> None:
    alpha = slow_world.root / "alpha"
    client = slow_world.start("run", "slow", "--project", str(alpha))
    wait_until(
        lambda: (alpha / "slow.state").exists() and (alpha / "slow.state").read_text() == "started",
        "the handler to start",
        60,
    )
    server = slow_world.server_pid()
    client.send_signal(how)
    client.communicate(timeout=30)
    if how == signal.SIGINT:
        assert client.returncode == 130
    wait_until(
        lambda: (alpha / "slow.state").read_text() == "cancelled", "the handler's cancellation"
    )
    assert slow_world.server_pid() == server  # the server and its runners carry on
    hello = slow_world.corral("run", "hello", "--project", str(alpha), "--format", "json")
    assert hello.returncode == 0, hello.stderr
    assert msgspec.json.decode(hello.stdout)["result"] == {"hello": "alpha"}


def test_two_clients_at_once_each_get_their_own_results(slow_world: ServerWorld) -> None:
    clients = {
        name: slow_world.start(
            "run", "hello", "--project", str(slow_world.root / name), "--format", "json"
        )
        for name in ("alpha", "beta")
    }
    for name, client in clients.items():
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        assert msgspec.json.decode(out)["result"] == {"hello": name}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_another_user_gets_no_answer(world: ServerWorld) -> None:
    assert world.corral("server", "start").returncode == 0
    socket_path = world.socket()
    # Let any user reach the socket, so that only the server's own check can refuse.
    socket_path.parent.chmod(0o755)
    socket_path.chmod(0o666)
    probe = textwrap.dedent(
        f"""
        import os, socket
        os.setgid(65534); os.setuid(65534)
        s = socket.socket(socket.AF_UNIX)
        s.connect({str(socket_path)!r})
        body = b'{{"jsonrpc":"2.0","id":1,"method":"$/ping"}}'
        s.settimeout(5)
        try:
            s.sendall(b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
            print(repr(s.recv(100)))
        except (BrokenPipeError, ConnectionResetError):
            print(repr(b""))  # closed on us (before or after the request): no answer either
        """
    )
    result = subprocess.run(
        [os.environ.get("PYTHON", "python3"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    socket_path.parent.chmod(0o700)
    assert result.stdout.strip() == "b''", result.stdout + result.stderr  # closed, no answer
    assert "refused a connection from uid 65534" in world.corral("server", "logs").stdout


def test_requests_before_initialize_and_a_wrong_protocol_are_refused(world: ServerWorld) -> None:
    import asyncio  # noqa: PLC0415

    from corral_protocol import RpcError, connect_unix  # noqa: PLC0415
    from corral_protocol.client import SessionParams  # noqa: PLC0415
    from corral_protocol.messages import ClientInfo  # noqa: PLC0415

    assert world.corral("server", "start").returncode == 0
    socket_path = world.socket()

    async def scenario() -> None:
        conn = await connect_unix(str(socket_path))
        with pytest.raises(RpcError) as early:
            await conn.request("workspace/status")
        assert early.value.code == -32002
        with pytest.raises(RpcError) as version:
            await conn.request(
                "initialize",
                SessionParams(protocol=["9.0"], client=ClientInfo(name="t", version="0")),
            )
        assert version.value.code == -32005
        conn.close()

    asyncio.run(scenario())
    time.sleep(0)  # the server logged nothing fatal and still answers
    assert world.corral("server", "status").returncode == 0


def test_the_record_matches_its_schema(world: ServerWorld) -> None:
    import jsonschema  # noqa: PLC0415
    from corral_protocol.schemas import load_schema, schema_registry  # noqa: PLC0415

    assert world.corral("server", "start").returncode == 0
    (record,) = world.records()
    schema = load_schema("server-record.json", protocol="client")
    jsonschema.Draft202012Validator(schema, registry=schema_registry()).validate(record)


def test_refusals_stop_semantics_and_the_initialize_deadline(slow_world: ServerWorld) -> None:
    """SPEC.md Part II: an unknown project is -32014, a run id in flight -32602; a
    connection that never initializes is closed after 10 s; server/stop answers every run
    -32800 (reason shutdown) before it answers, and work is refused -32004 meanwhile."""
    import asyncio  # noqa: PLC0415

    from corral.client.session import ServerError, ServerSession  # noqa: PLC0415
    from corral.errors import RunCancelledError  # noqa: PLC0415
    from corral_protocol import RpcError, connect_unix  # noqa: PLC0415
    from corral_protocol.client import RunRequest  # noqa: PLC0415
    from corral_protocol.messages import ClientInfo  # noqa: PLC0415

    assert slow_world.corral("server", "start").returncode == 0
    socket_path = slow_world.socket()
    alpha = str(slow_world.root / "alpha")
    client = ClientInfo(name="test", version="0")

    async def scenario() -> None:
        silent = await connect_unix(str(socket_path))  # never initializes
        session = await ServerSession.open(socket_path, client)
        with pytest.raises(ServerError) as unknown:
            await session.run(RunRequest(action="hello", project=str(slow_world.root)))
        assert unknown.value.code == -32014
        slow = asyncio.create_task(
            session.run(RunRequest(action="slow", project=alpha, run_id="the-slow-run"))
        )
        marker = Path(alpha) / "slow.state"
        await asyncio.to_thread(
            wait_until,
            lambda: marker.exists() and marker.read_text() == "started",
            "the handler to start",
            60,
        )
        other = await ServerSession.open(socket_path, client)
        with pytest.raises(ServerError) as twice:
            await other.run(RunRequest(action="hello", project=alpha, run_id="the-slow-run"))
        assert twice.value.code == -32602
        await other.stop(when_idle=True)  # answered at once; the slow run goes on
        assert not slow.done()
        with pytest.raises(RpcError) as refused:
            await other.conn.request("workspace/reload")
        assert refused.value.code == -32004
        with pytest.raises(ServerError) as late:
            await ServerSession.open(socket_path, client)
        assert late.value.code == -32004
        await other.stop()  # answers only once the slow run was answered -32800
        assert slow.done()
        with pytest.raises(RunCancelledError):
            await slow
        await asyncio.wait_for(silent.wait_closed(), 15)
        await session.aclose()
        await other.aclose()

    asyncio.run(scenario())


WM_SIDE = (
    "corral.workspace",
    "corral.service",
    "corral.supervisor",
    "corral.envs",
    "corral.config",
    "corral.catalog",
    "corral.pool",
    "corral.runs",
    "corral_runner",
    "corral_wal",
    "importlib.metadata",
    "corral.cli.sarif",
    "corral.cli.github",
)


def test_a_command_through_the_server_imports_none_of_the_wm(world: ServerWorld) -> None:
    """The client path is on every command: it imports the client and the CLI, not the WM
    (nor ``importlib.metadata``, nor the renderers of formats it was not asked for)."""
    assert world.corral("status").returncode == 0  # the server is up
    traced = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "corral",
            "-C",
            str(world.root),
            "run",
            "lint",
            "--workspace",
        ],
        capture_output=True,
        text=True,
        env=world.env(),
        timeout=120,
        check=False,
    )
    assert traced.returncode == 1, traced.stderr  # F401 in the example
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in traced.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"corral.cli.app", "corral.client", "corral_protocol.client"} <= imported
    assert sorted(m for m in imported if m.startswith(WM_SIDE)) == []


def test_a_client_that_stops_reading_is_cut_off_and_stalls_no_one(world: ServerWorld) -> None:
    """SPEC.md §17.4: a client that asks and never reads is disconnected once 8 MiB wait
    unsent to it (what was queued is dropped); another client's run meanwhile is served."""
    import socket as sockets  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from corral_protocol.framing import encode_frame  # noqa: PLC0415

    assert world.corral("server", "start").returncode == 0
    stalled = sockets.socket(sockets.AF_UNIX)
    stalled.connect(str(world.socket()))
    stalled.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)

    def frame(id_: int, method: str, params: dict[str, Any] | None = None) -> bytes:
        message = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            message["params"] = params
        return encode_frame(msgspec.json.encode(message))

    hello = {"protocol": ["1.0"], "client": {"name": "stalled", "version": "0"}}
    flood = b"".join(frame(n, "workspace/status") for n in range(2, 20_000))

    def ask() -> None:
        with contextlib.suppress(OSError):  # cut off while still sending
            stalled.sendall(frame(1, "initialize", hello) + flood)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    served = world.corral("run", "lint", "--workspace")  # meanwhile, another client
    assert served.returncode == 1, served.stderr
    assert "F401" in served.stdout
    wait_until(
        lambda: "stopped reading" in world.corral("server", "logs").stdout,
        "the stalled client to be cut off",
        120,
    )
    asker.join(30)
    received = 0
    stalled.settimeout(10)
    with contextlib.suppress(ConnectionResetError):
        while chunk := stalled.recv(1 << 20):
            received += len(chunk)
    stalled.close()
    assert received < 9 * 1024 * 1024  # the backlog was dropped, not delivered late
    assert "disconnected stalled 0: stopped reading" in world.corral("server", "logs").stdout
    assert world.corral("server", "status").returncode == 0


OLD_SERVER = """
import sys
import corral._version
corral._version.__version__ = "0.0.1"  # what an older installed Corral would report
from corral.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_server_of_another_version_is_replaced_once_its_runs_finish(
    world: ServerWorld,
) -> None:
    argv = ["-C", str(world.root), "server", "start", "--foreground"]
    old = subprocess.Popen(
        [sys.executable, "-c", OLD_SERVER, *argv],
        env=world.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # (no status command here: a client of this version would replace it at once)
        wait_until(world.socket_ready, "the old server to listen")
        (record,) = world.records()
        assert (record["pid"], record["version"]) == (old.pid, "0.0.1")
        done = world.corral("run", "lint", "--workspace")
        assert done.returncode == 1, done.stderr  # served, by a new server
        assert "runs version 0.0.1, this corral is 0.1.0" in done.stderr
        assert old.wait(timeout=30) == 0  # the old one stopped cleanly
        assert world.status()["server"]["version"] == "0.1.0"
        assert world.server_pid() != old.pid
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
