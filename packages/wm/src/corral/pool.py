"""The workspace's runners: one :class:`~corral.supervisor.ManagedRunner` per (project, env).

:class:`RunnerPool` creates runners lazily (a runner starts only when a request needs its
env: docs/architecture.md#runner-per-env), hands out status snapshots, restarts and stops
them. How a runner is run
(its command, settings, configuration, env check and the router serving its requests) is
the :data:`SpecFactory` the Workspace Manager supplies; the pool only keeps them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from .supervisor import (
    EventBus,
    ManagedRunner,
    RunnerKey,
    RunnerSpec,
    RunnerState,
    RunnerStateChanged,
    RunnerStatus,
)

__all__ = ["RunnerPool", "SpecFactory"]

SpecFactory = Callable[[RunnerKey], RunnerSpec]
"""How to run the runner of a key (called once, when the runner is first needed)."""


class RunnerPool:
    """See the module docstring."""

    def __init__(self, spec_for: SpecFactory, bus: EventBus[RunnerStateChanged]) -> None:
        self._spec_for = spec_for
        self.bus = bus
        self._runners: dict[RunnerKey, ManagedRunner] = {}

    def runner(self, key: RunnerKey) -> ManagedRunner:
        """The runner of ``key`` (created, not started, on first use)."""
        runner = self._runners.get(key)
        if runner is None:
            runner = ManagedRunner(self._spec_for(key), bus=self.bus)
            self._runners[key] = runner
        return runner

    def known(self, key: RunnerKey) -> ManagedRunner | None:
        """The runner of ``key`` if it was ever needed."""
        return self._runners.get(key)

    def started(self) -> list[ManagedRunner]:
        """Runners that are not stopped."""
        return [r for r in self._runners.values() if r.state is not RunnerState.STOPPED]

    async def restart(self, runners: Iterable[ManagedRunner]) -> list[RunnerStatus]:
        """Restart ``runners`` (crash budgets reset) and wait until each has settled
        (running, crashed or without venv); their statuses, in order."""
        chosen = list(runners)
        await asyncio.gather(*(r.restart() for r in chosen))

        async def settle(runner: ManagedRunner) -> None:
            while runner.state in (RunnerState.STARTING, RunnerState.RESTARTING):
                await runner.wait_for_change()

        await asyncio.gather(*(settle(r) for r in chosen))
        return [r.status() for r in chosen]

    async def aclose(self) -> None:
        """Stop every runner (cooperatively first)."""
        await asyncio.gather(*(r.aclose() for r in self._runners.values()), return_exceptions=True)
