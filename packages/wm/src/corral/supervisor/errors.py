"""Why a runner cannot serve a request: the supervisor's domain errors."""

from __future__ import annotations

from ..errors import CorralError
from .events import RunnerKey
from .states import RunnerState

__all__ = ["RunnerCrashedError", "RunnerUnavailableError"]


class RunnerUnavailableError(CorralError):
    """The runner cannot serve requests now (never started, NO_VENV, crashed...).

    ``kind`` is the name handler outcomes carry as their error type when a runner problem
    fails them (``RunnerUnavailable``; ``RunnerCrashed`` for a runner that died mid-request).
    """

    kind = "RunnerUnavailable"

    def __init__(
        self,
        key: RunnerKey,
        reason: str,
        *,
        state: RunnerState | None = None,
        exit_code: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason
        self.state = state
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        text = self.reason
        if self.stderr_tail.strip() and self.stderr_tail not in text:
            text += "\nstderr (last lines):\n" + "\n".join(
                f"  | {line}" for line in self.stderr_tail.splitlines()
            )
        return text


class RunnerCrashedError(RunnerUnavailableError):
    """The runner died while a request was in flight."""

    kind = "RunnerCrashed"
