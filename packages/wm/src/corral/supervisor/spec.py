"""What the supervisor needs to run one runner: :class:`RunnerSpec`, supplied by the WM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corral_protocol import Router
from corral_protocol.messages import ConfigureParams

from ..config import RunnerSettings
from .events import RunnerKey
from .process import default_log_level
from .spawn import PlainSpawner, Spawner

__all__ = ["RunnerSpec"]


@dataclass(frozen=True)
class RunnerSpec:
    """How to run one runner; supplied by the WM from configuration and environments."""

    key: RunnerKey
    command: Callable[[], list[str]]
    """The argv to start (a Python env: ``[<env python>, "-m", "corral_runner"]``)."""
    settings: RunnerSettings
    env_ready: Callable[[], tuple[bool, str]] = lambda: (True, "")
    """Cheap check: (ready, message naming the fix when not)."""
    configure: Callable[[], ConfigureParams] | None = None
    router_factory: Callable[[], Router] = Router
    """Serves the runner's requests to the WM (``project/runAction``...)."""
    wal_dir: Path | None = None
    conformance: bool = False
    log_level: str = field(default_factory=default_log_level)
    spawner: Spawner = field(default_factory=PlainSpawner)
    """How its process is started (:mod:`corral.supervisor.spawn`)."""
