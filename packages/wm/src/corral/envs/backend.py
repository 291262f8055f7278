"""The environment backend interface: one implementation per env kind.

An environment's *kind* (``[tool.corral.envs.NAME] kind``, see
:data:`corral.envkind.ENV_KINDS`) picks the backend that builds it and starts its runner:
``python`` (:class:`~corral.envs.pybackend.PythonBackend`: a uv virtual environment) and
``node`` (:class:`~corral.envs.nodebackend.NodeBackend`: an npm package directory). Every
backend keeps the same layout and contract, so the orchestration around it
(:class:`~corral.envs.prepare.EnvPreparer`: parallel slots, the cross-process lock,
progress, error reports) is shared:

- the env lives in ``<project>/.corral/envs/<name>/`` with its stamp
  ``.corral-stamp.json``, written last (after the env was verified) and deleted first;
- :meth:`EnvBackend.status` is cheap (``stat`` calls and the stamp read, no subprocess
  except a backend's one-off tool discovery) and says ``ready`` exactly when the stamp
  matches the current inputs;
- :meth:`EnvBackend.build` creates or updates, installs, verifies and stamps one env while
  the caller holds its lock; a failure raises :class:`~corral.envs.errors.EnvPrepareError`
  whose text is the whole report (headline naming the project and env, the command, the
  tool's output tail);
- :meth:`EnvBackend.runner_command` is the argv that starts the env's runner (the WM writes
  the launch record to its stdin, cwd = the project).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from corral.envkind import EnvKind
from corral.envs.locking import LockOutcome
from corral.envs.request import EnvRequest
from corral.envs.status import EnvStatus

__all__ = ["BuildJob", "Built", "EnvBackend", "PreparePhase", "PrepareStatus"]

PreparePhase = Literal["skipped", "creating", "locking", "installing", "done", "failed"]
PrepareStatus = Literal["unchanged", "created", "updated", "failed"]


@dataclass(frozen=True)
class BuildJob:
    """One :meth:`EnvBackend.build` call: ``recreate`` rebuilds from scratch; ``emit``
    reports a phase (``creating``/``locking``/``installing``) with a human message."""

    recreate: bool
    emit: Callable[[PreparePhase, str], None]


@dataclass(frozen=True)
class Built:
    """What :meth:`EnvBackend.build` did: ``unchanged`` (another process had just built
    it), ``created`` or ``updated``; ``lock``: the lock file it wrote, if any."""

    status: Literal["unchanged", "created", "updated"]
    lock: LockOutcome | None = None


class EnvBackend(Protocol):
    """How one kind of environment is built, checked and started (see the module doc)."""

    kind: EnvKind

    def status(self, request: EnvRequest, fingerprint: Callable[[Path], str]) -> EnvStatus:
        """The cheap status (stamp check). ``fingerprint`` fingerprints local sources."""
        ...

    async def check(self, request: EnvRequest) -> EnvStatus:
        """The deeper check: the cheap status, then start the env's tool to verify it."""
        ...

    async def build(self, request: EnvRequest, job: BuildJob) -> Built:
        """Create or update, install, verify and stamp (the env's lock is held)."""
        ...

    async def lock(self, request: EnvRequest, *, upgrade: bool) -> LockOutcome:
        """Resolve the env's lock file without installing (``corral lock``)."""
        ...

    def runner_command(self, request: EnvRequest) -> list[str]:
        """The argv that starts the env's runner (never a shell string)."""
        ...

    def describe(self, request: EnvRequest) -> str:
        """What runs the env, for statuses (e.g. ``python 3.11.7 at /usr/bin/python3.11``)."""
        ...

    def close(self) -> None:
        """Release what the backend made for a preparation (temporary files)."""
        ...
