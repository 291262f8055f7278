"""The Workspace Manager's domain exceptions: what can go wrong, with structured fields.

Every refusal or failure the WM API reports is a :class:`CorralError` subclass carrying the
facts a front end needs (which project, action, env, limit) as attributes, and a message
that names them and the fix. They are mapped to JSON-RPC error codes only at the protocol
edges (the runners' scope requests, the client protocol): see :mod:`corral.rpcerrors`.

:class:`~corral.config.ConfigError` (a configuration file at fault) and
:class:`~corral.supervisor.RunnerUnavailableError` (a runner that cannot serve) are
:class:`CorralError` too; they live next to the code that raises them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Final

__all__ = [
    "USER_FAULT_CODES",
    "CorralError",
    "DepthLimitError",
    "EnvNotReadyError",
    "FanOutLimitError",
    "RunCancelledError",
    "UnknownActionError",
    "UnknownProjectError",
    "UsageError",
    "closest",
]


USER_FAULT_CODES: Final = frozenset({-32602, -32010, -32014})
"""JSON-RPC codes (SPEC.md §6.7) of errors only the user can fix: invalid params (a
configuration or usage error), an action or a project that does not exist. A front end
reporting such an error exits as for a usage error."""


def closest(word: str, candidates: Iterable[str], *, count: int = 3) -> list[str]:
    """The candidates that look most like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, sorted(set(candidates)), n=count, cutoff=0.6)


class CorralError(Exception):
    """Base of every error the WM API raises on purpose (anything else is a bug).

    ``user_fault`` is true for errors only the user can fix by changing the request or a
    configuration file (front ends report them as usage errors: the CLI exits 2); false
    for something that failed while working (a runner, an env, a limit hit at run time).
    """

    user_fault = False


class UsageError(CorralError):
    """A request that cannot mean anything (a path outside every project, a bad
    combination of options): the caller must change it."""

    user_fault = True


class UnknownProjectError(CorralError):
    """No Corral project at ``project``."""

    def __init__(self, project: Path) -> None:
        super().__init__(
            f"no Corral project at {project} (a project has [tool.corral] in pyproject.toml "
            "or a corral.toml)"
        )
        self.project = project

    user_fault = True


class UnknownActionError(CorralError):
    """``action`` is not defined where it was asked for.

    ``project`` is the project asked (None: the whole workspace, where no project defines
    it); ``known`` the actions defined there; ``suggestions`` the closest of them.
    """

    user_fault = True

    def __init__(self, action: str, *, project: Path | None, known: Iterable[str]) -> None:
        self.action = action
        self.project = project
        self.known = tuple(sorted(set(known)))
        self.suggestions = tuple(closest(action, self.known))
        if project is not None:
            message = f"project {project} has no action {action!r}"
        else:
            message = f"no action {action!r} in any project of the workspace"
        if self.suggestions:
            message += f" (did you mean {' or '.join(repr(s) for s in self.suggestions)}?)"
        elif self.known:
            message += f" (known actions: {', '.join(self.known)})"
        else:
            message += " (no actions are configured)"
        super().__init__(message)


class EnvNotReadyError(CorralError):
    """An environment a run needs is missing or stale; ``fix`` is the command that fixes it."""

    def __init__(self, project: Path, env: str, state: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.project = project
        self.env = env
        self.state = state
        self.fix = fix


class DepthLimitError(CorralError):
    """A nested run would exceed the recursion depth limit."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(f"run depth {depth} exceeds the limit {limit}")
        self.depth = depth
        self.limit = limit


class FanOutLimitError(CorralError):
    """A workspace run would fan out to more projects than allowed."""

    def __init__(self, action: str, count: int, limit: int) -> None:
        super().__init__(
            f"{action} would run in {count} projects; the limit is {limit} "
            "(raise it with max_fanout, or name the projects)"
        )
        self.action = action
        self.count = count
        self.limit = limit


class RunCancelledError(CorralError):
    """The run was cancelled (by :meth:`WorkspaceManager.cancel` or its client)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id
