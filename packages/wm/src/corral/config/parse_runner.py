"""Read ``[tool.corral.runner]`` (supervision settings) into :class:`RunnerSettings`.

Every key is optional; a missing key keeps its documented default. Timeouts and intervals
are finite numbers > 0 (integers accepted), ``idle_shutdown`` and ``run_timeout`` >= 0
(0 disables them),
``restart.backoff`` a non-empty array of numbers >= 0, ``restart.jitter`` within [0, 1],
``restart.max_crashes`` an integer >= 1.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from corral.config._reader import Table
from corral.config.model import RestartSettings, RunnerSettings

_POSITIVE = (
    "hello_timeout",
    "initialize_timeout",
    "ping_interval",
    "ping_timeout",
    "unhealthy_grace",
    "shutdown_timeout",
    "terminate_timeout",
)
RUNNER_KEYS = (*_POSITIVE, "idle_shutdown", "run_timeout", "restart")
RESTART_KEYS = ("backoff", "jitter", "max_crashes", "window", "stable_after")


def read_runner(parent: Table) -> RunnerSettings:
    """The ``runner`` table of ``parent`` (defaults when it is absent)."""
    table = parent.table("runner", known=RUNNER_KEYS)
    if table is None:
        return RunnerSettings()
    values: dict[str, Any] = {}
    for name in _POSITIVE:
        values[name] = table.number(name, low=0, low_inclusive=False)
    values["idle_shutdown"] = table.number("idle_shutdown", low=0, low_inclusive=True)
    values["run_timeout"] = table.number("run_timeout", low=0, low_inclusive=True)
    values["restart"] = _read_restart(table)
    return RunnerSettings(**_written(values))


def _read_restart(parent: Table) -> RestartSettings | msgspec.UnsetType:
    table = parent.table("restart", known=RESTART_KEYS)
    if table is None:
        return UNSET
    values = {
        "backoff": table.numbers("backoff", low=0, low_inclusive=True, nonempty=True),
        "jitter": table.number("jitter", low=0, low_inclusive=True, high=1),
        "max_crashes": table.integer("max_crashes", low=1),
        "window": table.number("window", low=0, low_inclusive=False),
        "stable_after": table.number("stable_after", low=0, low_inclusive=False),
    }
    return RestartSettings(**_written(values))


def _written(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not UNSET}
