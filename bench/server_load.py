"""Load on one WM server: many clients, many runners, a runner killed in the middle.

A generated workspace of ``--runners`` projects (one runner each, a handler that sleeps a
little and echoes its params) is served by a real detached ``corral`` server. ``--clients``
client connections send ``--actions`` ``workspace/run`` requests at once (round robin over
the projects); while they are in flight one runner is SIGKILLed. Checked and printed:

* every request is answered exactly once: a correct result (the echoed ``n`` from the
  right project) or a clear error (an ``error`` report, or a JSON-RPC error, with a
  message); none is lost (all answered within ``--deadline``), none answered twice (no
  second answer dropped by a client connection), none answered with another's result;
* the killed runner's project works again afterwards (a new runner);
* the server's RSS (VmRSS of the server process): its baseline after a warm-up load, its
  peak during the measured load, and after it (then settled): back to the baseline within
  ``--rss-slack`` MiB. The warm-up load has the same shape as the measured one, so that the
  allocator's pools have grown to their working size before the baseline is taken.

    uv run python bench/server_load.py [--actions 1000] [--clients 10] [--runners 20]

:func:`run_load` is also what ``tests/test_server_load.py`` runs, in a small slice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral_protocol import RpcError, connect_unix
from corral_protocol.client import (
    CLIENT_SUPPORTED_VERSIONS,
    ProjectReport,
    RunReport,
    RunRequest,
    SessionParams,
    SessionResult,
    StatusResult,
)
from corral_protocol.connection import Connection
from corral_protocol.jsonrpc import MessageRejected
from corral_protocol.messages import ClientInfo

CORRAL = [sys.executable, "-m", "corral"]

HANDLERS = '''"""Handlers of the load bench."""

import asyncio
import os

from corral_runner import ActionContext


async def work(ctx: ActionContext) -> dict:
    await asyncio.sleep(float(ctx.params.get("sleep", 0.0)))
    return {"project": ctx.project.name, "n": ctx.params["n"], "pid": os.getpid()}
'''
CONFIG = '[[actions.work.handlers]]\nname = "work"\nsource = "handlers:work"\n'


def make_workspace(root: Path, projects: int) -> list[Path]:
    """``projects`` projects under ``root``, each with the ``work`` action (envs not yet
    prepared)."""
    made = []
    for index in range(projects):
        project = root / f"p{index:02d}"
        project.mkdir(parents=True)
        (project / "corral.toml").write_text(CONFIG)
        (project / "handlers.py").write_text(HANDLERS)
        made.append(project)
    return made


def server_env(runtime: Path) -> dict[str, str]:
    """The environment of commands that use the server kept in ``runtime``."""
    env = {**os.environ, "CORRAL_RUNTIME_DIR": str(runtime), "CORRAL_SERVER": "1"}
    env.pop("CI", None)
    return env


def corral(root: Path, runtime: Path, *args: str, timeout: float = 600) -> str:
    """Run ``corral -C root ARGS`` (server mode), its output; raises when it fails."""
    done = subprocess.run(
        [*CORRAL, "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=server_env(runtime),
        cwd=root,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"corral {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def server_record(runtime: Path) -> dict[str, Any]:
    """The one server record in ``runtime``."""
    (path,) = runtime.glob("*.json")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class LoadOutcome:
    """What one load did; :meth:`problems` lists what broke the contract."""

    requested: int
    seconds: float = 0.0
    results: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    lost: int = 0
    second_answers: int = 0
    killed: int | None = None
    recovered: bool = True

    def problems(self) -> list[str]:
        found = []
        answered = self.results + sum(self.errors.values()) + len(self.wrong)
        if answered != self.requested or self.lost:
            found.append(f"{self.requested} requested, {answered} answered, {self.lost} lost")
        if self.second_answers:
            found.append(f"{self.second_answers} requests answered more than once")
        if self.wrong:
            found.append(f"{len(self.wrong)} wrong answers, e.g. {self.wrong[0]}")
        if any(not message.strip() for message in self.errors):
            found.append("an error without a message")
        if not self.recovered:
            found.append("the killed runner's project did not work again afterwards")
        return found


class Client:
    """One client connection, initialized; second answers are counted (none allowed)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rejected = 0

    @classmethod
    async def open(cls, socket: Path, name: str) -> Client:
        holder: list[Client] = []

        def rejected(event: MessageRejected) -> None:
            holder[0].rejected += 1

        conn = await connect_unix(str(socket), on_rejected=rejected)
        client = cls(conn)
        holder.append(client)
        await conn.request(
            "initialize",
            SessionParams(
                protocol=list(CLIENT_SUPPORTED_VERSIONS),
                client=ClientInfo(name=name, version="0"),
            ),
            result_type=SessionResult,
        )
        return client

    async def run(self, project: Path, n: int, sleep: float, tag: str) -> RunReport:
        request = RunRequest(
            action="work",
            project=str(project),
            params={"n": n, "sleep": sleep},
            run_id=f"{tag}-{n}",
            source="bench",
        )
        report: RunReport = await self.conn.request(
            "workspace/run",
            request,
            result_type=RunReport,  # type: ignore[arg-type]
        )
        return report

    async def status(self) -> StatusResult:
        return await self.conn.request("workspace/status", result_type=StatusResult)


async def one_request(
    client: Client, project: Path, n: int, sleep: float, *, tag: str, outcome: LoadOutcome
) -> None:
    try:
        report = await client.run(project, n, sleep, tag)
    except RpcError as exc:
        outcome.errors[f"JSON-RPC {exc.code}: {exc.message}"] += 1
        return
    if not isinstance(report, ProjectReport):
        outcome.wrong.append(f"request {n}: a workspace report")
    elif report.status == "ok":
        result = report.result or {}
        if result.get("n") != n or result.get("project") != project.name:
            outcome.wrong.append(f"request {n} to {project.name} answered {result}")
        else:
            outcome.results += 1
    else:
        message = report.error.message if report.error is not None else ""
        if report.status == "failed":
            message = "; ".join(
                f"{h.name}: {h.error.message if h.error else h.status}" for h in report.handlers
            )
        code = report.error.code if report.error is not None else "-"
        outcome.errors[f"{report.status} {code}: {message}"] += 1


async def runner_pids(client: Client) -> dict[str, int]:
    status = await client.status()
    return {r.project: r.pid for r in status.runners if r.pid is not None}


async def run_load(
    socket: Path,
    projects: list[Path],
    *,
    actions: int,
    clients: int,
    kill: bool,
    deadline: float = 120.0,
    max_sleep: float = 0.2,
    tag: str = "load",
) -> LoadOutcome:
    """Send ``actions`` runs from ``clients`` connections at once (round robin over
    ``projects``), SIGKILL the runner of the second project while they are in flight when
    ``kill``, and account for every answer (see the module docstring)."""
    rng = random.Random(actions)
    connections = [await Client.open(socket, f"load-{i}") for i in range(clients)]
    outcome = LoadOutcome(requested=actions)
    victim = projects[1 % len(projects)]
    try:
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(
                one_request(
                    connections[n % clients],
                    projects[n % len(projects)],
                    n,
                    rng.uniform(0.0, max_sleep),
                    tag=tag,
                    outcome=outcome,
                )
            )
            for n in range(actions)
        ]
        if kill:
            await asyncio.sleep(max_sleep / 2)
            pid = (await runner_pids(connections[0])).get(str(victim))
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                outcome.killed = pid
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        outcome.lost = len(pending)
        for task in pending:
            task.cancel()
        outcome.seconds = time.perf_counter() - started
        await asyncio.sleep(0.2)  # a second answer would have arrived by now
        outcome.second_answers = sum(c.rejected for c in connections)
        if kill:
            again = LoadOutcome(requested=1)
            await one_request(connections[0], victim, 0, 0.0, tag=f"{tag}-after", outcome=again)
            outcome.recovered = again.results == 1
    finally:
        for client in connections:
            await client.conn.aclose(grace=1.0)
    return outcome


async def settled_rss(pid: int, seconds: float = 2.0) -> int:
    """The server's RSS once it has been quiet for ``seconds``."""
    await asyncio.sleep(seconds)
    return rss_kib(pid)


def prepare(root: Path, runtime: Path) -> float:
    started = time.perf_counter()
    corral(root, runtime, "--no-server", "prepare-envs")
    return time.perf_counter() - started


async def bench(args: argparse.Namespace, root: Path, runtime: Path, projects: list[Path]) -> int:
    record = server_record(runtime)
    server = int(record["pid"])
    socket = Path(str(record["endpoint"]).removeprefix("unix:"))
    warm = await Client.open(socket, "warm")
    await asyncio.gather(*(warm.run(p, 0, 0.0, "warm") for p in projects))
    await warm.conn.aclose()
    print(f"server pid {server}, RSS after one run per runner: {rss_kib(server) / 1024:.1f} MiB")
    warmup = await run_load(
        socket, projects, actions=args.actions, clients=args.clients, kill=False, tag="warmup"
    )
    baseline = await settled_rss(server)
    print(
        f"warm-up load ({args.actions} actions, no kill): {warmup.seconds:.2f} s, "
        f"problems: {warmup.problems() or 'none'}"
    )
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_kib(server))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    outcome = await run_load(
        socket,
        projects,
        actions=args.actions,
        clients=args.clients,
        kill=True,
        deadline=args.deadline,
    )
    sampler.cancel()
    after = await settled_rss(server)
    print(
        f"measured load: {args.actions} actions from {args.clients} clients over "
        f"{len(projects)} runners in {outcome.seconds:.2f} s "
        f"({args.actions / outcome.seconds:.0f} actions/s), runner pid {outcome.killed} "
        "SIGKILLed in the middle"
    )
    print(f"  results (correct, echoed n and project): {outcome.results}")
    for message, count in outcome.errors.most_common():
        print(f"  errors: {count} x {message}")
    print(
        f"  wrong answers: {len(outcome.wrong)}, lost: {outcome.lost}, "
        f"answered twice: {outcome.second_answers}"
    )
    print(f"  killed runner's project works again: {outcome.recovered}")
    mib = 1024
    print(
        f"server RSS: baseline {baseline / mib:.1f} MiB, peak {peak / mib:.1f} MiB, "
        f"after {after / mib:.1f} MiB (delta {(after - baseline) / mib:+.1f} MiB, "
        f"allowed +{args.rss_slack:.0f})"
    )
    problems = outcome.problems()
    if after - baseline > args.rss_slack * mib:
        problems.append("the server's RSS did not come back to its baseline")
    if outcome.killed is None:
        problems.append("no runner was killed (none found running)")
    print("PASS" if not problems else "FAIL: " + "; ".join(problems))
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--runners", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--rss-slack", type=float, default=8.0, help="MiB")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="corral-load-"))
    root, runtime = work / "ws", work / "run"
    runtime.mkdir(mode=0o700)
    projects = make_workspace(root, args.runners)
    status = 1
    try:
        print(f"workspace: {args.runners} projects; prepare-envs {prepare(root, runtime):.1f} s")
        corral(root, runtime, "server", "start")
        status = asyncio.run(bench(args, root, runtime, projects))
    finally:
        with contextlib.suppress(SystemExit, subprocess.TimeoutExpired):
            corral(root, runtime, "server", "stop", timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
