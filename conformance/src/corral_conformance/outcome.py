"""Case outcomes and the three exceptions that end a case early.

Contract: a case ends in exactly one :class:`Status`. The driver keeps apart

* ``fail`` - the *runner* broke a rule (:class:`RunnerFailure`): it answered wrongly, too late,
  not at all, sent a message its schema rejects, exited with the wrong code, ...
* ``harness-error`` - the *driver* could not run the case (:class:`HarnessError` or any
  unexpected exception): a malformed case file, an unknown variable, a runner command that
  cannot be started, a bug in the driver. It says nothing about the runner.
* ``skip`` - the case needs a capability the runner or the platform lacks (:class:`SkipCase`).

``xfail`` and ``stale`` are assigned afterwards by the expected-failures baseline.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CaseResult",
    "HarnessError",
    "RunnerFailure",
    "SkipCase",
    "Status",
]


class Status(enum.StrEnum):
    """The outcome of one case."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    SKIP = "skip"
    HARNESS_ERROR = "harness-error"
    XFAIL = "xfail"
    """Failed, and listed in the expected-failures baseline."""
    STALE = "stale"
    """Passed although the baseline lists it: the baseline is stale (fails the run)."""


class RunnerFailure(Exception):  # noqa: N818 - "failure" is the outcome's name
    """The runner broke a rule. ``expected``/``got`` are short human-readable texts."""

    def __init__(self, message: str, *, expected: str | None = None, got: str | None = None):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got


class HarnessError(Exception):
    """The driver could not run the case; the runner is not to blame."""


class SkipCase(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The case does not apply to this runner or platform; the message says why."""


@dataclass(slots=True)
class CaseResult:
    """Everything known about one finished case.

    ``step`` is the 1-based position of the step that decided a failure, as a dotted path
    for steps nested in ``repeat`` (``"4.2"``), with ``step_kind`` its ``step`` name.
    ``transcript`` is the raw per-case transcript; ``normalised`` its normalised form.
    """

    case_id: str
    status: Status
    duration_s: float = 0.0
    message: str = ""
    step: str | None = None
    step_kind: str | None = None
    expected: str | None = None
    got: str | None = None
    stderr_tail: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    normalised: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    """Extra text: a traceback for harness errors, the baseline reason for xfail/stale."""
    rule: str | None = None
    """The SPEC rule the case checks (its ``rule`` member), for failure reports."""

    @property
    def is_runner_failure(self) -> bool:
        """True for ``fail`` and ``stale`` (the outcomes that make the run exit 1)."""
        return self.status in (Status.FAIL, Status.STALE)
