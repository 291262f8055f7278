"""A bounded slice of ``bench/server_load.py`` in the suite: many runs from several clients
over several runners of one real server, a runner SIGKILLed while they are in flight.

Every request must be answered exactly once, with its own correct result or a clear error;
none lost, none answered twice, none answered with another request's result; the killed
runner's project works again afterwards. (The full load, with the server's memory, is the
bench: 1,000 actions, 10 clients, 20 runners.)
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_harness import ServerWorld, no_leftovers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import server_load

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ServerWorld]:
    root = tmp_path / "ws"
    server_load.make_workspace(root, 4)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    world = ServerWorld(root, runtime)
    with no_leftovers(world):
        yield world


def test_every_request_is_answered_exactly_once_through_a_runner_kill(
    world: ServerWorld,
) -> None:
    assert world.corral("--no-server", "prepare-envs").returncode == 0
    assert world.corral("server", "start").returncode == 0
    projects = sorted(world.root.glob("p[0-9][0-9]"))
    assert len(projects) == 4

    async def load() -> server_load.LoadOutcome:
        warm = await server_load.Client.open(world.socket(), "warm")
        await asyncio.gather(*(warm.run(p, 0, 0.0, "warm") for p in projects))
        await warm.conn.aclose()
        return await server_load.run_load(
            world.socket(), projects, actions=120, clients=4, kill=True, deadline=120
        )

    outcome = asyncio.run(load())
    assert outcome.killed is not None  # a runner was SIGKILLed mid-load
    assert outcome.problems() == []
    assert outcome.results >= 90  # only the killed runner's in-flight runs may fail
    assert all("runner" in message.lower() for message in outcome.errors), outcome.errors
