"""The state of one case run, shared by its steps.

A :class:`CaseContext` owns the case's processes and connections (and tears them down), its
variables, transcript and the protocol violations noticed in the background. Steps receive
it and use its helpers; nothing here decides outcomes except :meth:`check_violations`.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Final

from .outcome import HarnessError, RunnerFailure, SkipCase
from .process import RunnerProcess
from .protocol import ProtocolSchemas
from .transcript import Transcript
from .variables import Variables
from .wire import WireConnection

__all__ = ["PLATFORM_FEATURES", "CaseContext", "RunOptions", "platform_features"]

PLATFORM_FEATURES: Final = frozenset({"posixSignals"})
"""Requirement names checked against the platform, not the runner's capabilities."""


def platform_features() -> frozenset[str]:
    """The platform features this driver offers (``posixSignals`` on POSIX)."""
    features = set()
    if os.name == "posix" and hasattr(signal, "SIGKILL"):
        features.add("posixSignals")
    return frozenset(features)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run cases: the runner command and the timeout scale (> 0)."""

    runner_argv: tuple[str, ...]
    timeout_scale: float = 1.0
    log_level: str = "info"
    features: frozenset[str] = field(default_factory=platform_features)


class CaseContext:
    """Everything one running case knows."""

    def __init__(self, case_id: str, options: RunOptions, schemas: ProtocolSchemas) -> None:
        self.case_id = case_id
        self.options = options
        self.schemas = schemas
        self.vars = Variables()
        self.vars.set("driverPid", os.getpid())
        self.transcript = Transcript()
        self.processes: dict[str, RunnerProcess] = {}
        self.connections: dict[str, WireConnection] = {}
        self.violations: list[str] = []
        self.capabilities: dict[str, Any] | None = None
        self.step_path = ""
        self.step_kind = ""

    # --- helpers --------------------------------------------------------------------------

    def seconds(self, ms: int | float) -> float:
        """Milliseconds of a case file as scaled seconds."""
        return float(ms) * self.options.timeout_scale / 1000.0

    def process(self, name: str) -> RunnerProcess:
        """The launched process ``name``; HarnessError if the case never launched it."""
        try:
            return self.processes[name]
        except KeyError:
            raise HarnessError(f"no process named {name!r} was launched") from None

    def connection(self, name: str) -> WireConnection:
        """The connection ``name``; HarnessError if the case never opened it."""
        try:
            return self.connections[name]
        except KeyError:
            raise HarnessError(f"no connection named {name!r} was opened") from None

    def commit(self, captures: dict[str, Any]) -> None:
        """Bind the captures of a successful match."""
        for name, value in captures.items():
            if name.endswith("[]"):
                for item in value:
                    self.vars.append(name[:-2], item)
            else:
                self.vars.set(name, value)

    def note_violation(self, text: str) -> None:
        """Called from background readers: the runner broke a rule."""
        self.violations.append(text)
        self.transcript.event("violation", text=text)

    def check_violations(self) -> None:
        """Raise RunnerFailure for the first violation noticed so far."""
        if self.violations:
            first = self.violations[0]
            more = len(self.violations) - 1
            suffix = f" (and {more} more)" if more else ""
            raise RunnerFailure(f"protocol violation: {first}{suffix}")

    def stderr_tail(self) -> str:
        """The stderr tails of every process of the case."""
        parts = []
        for name, proc in self.processes.items():
            tail = proc.stderr_tail()
            if tail.strip():
                parts.append(tail if len(self.processes) == 1 else f"[{name}]\n{tail}")
        return "\n".join(parts)

    def evaluate_requirements(self, requires: list[str]) -> bool:
        """Skip unless every requirement holds. Returns False while capabilities are unknown.

        Platform features are known at once; other names are runner capabilities that must
        be truthy in the first successful ``initialize`` result.
        """
        missing_platform = [r for r in requires if r in PLATFORM_FEATURES]
        missing_platform = [r for r in missing_platform if r not in self.options.features]
        if missing_platform:
            raise SkipCase(f"platform lacks {', '.join(missing_platform)}")
        wanted = [r for r in requires if r not in PLATFORM_FEATURES]
        if not wanted:
            return True
        if self.capabilities is None:
            return False
        missing = [r for r in wanted if not self.capabilities.get(r)]
        if missing:
            raise SkipCase(f"runner does not declare capability {', '.join(missing)}")
        return True

    # --- teardown -------------------------------------------------------------------------

    async def teardown(self) -> None:
        """Close every connection and kill every process; never raises."""
        for conn in list(self.connections.values()):
            try:
                await conn.close()
            except Exception as exc:
                self.transcript.event("teardown-error", text=repr(exc))
        await asyncio.gather(
            *(proc.terminate() for proc in self.processes.values()), return_exceptions=True
        )
