"""Corral's Workspace Manager: the API every front end uses (docs/architecture.md#layers).

::

    from corral import WorkspaceManager

    async with await WorkspaceManager.open(root) as wm:
        report = await wm.run("lint")

Public names, imported on first use (so that ``import corral`` costs nothing):

* :class:`WorkspaceManager`, :class:`Limits`;
* snapshots and reports: :class:`ProjectInfo`, :class:`EnvInfo`, :class:`RunnerSnapshot`,
  :class:`RunnerState`, :class:`ProjectReport`, :class:`WorkspaceReport`,
  :class:`PrepareProgress`, :class:`PrepareReport`, :class:`OutputRecord`,
  :class:`RunProgress`;
* errors: :class:`CorralError` and its subclasses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # explicit re-exports for type checkers; runtime access is lazy
    from .config import ConfigError as ConfigError
    from .errors import CorralError as CorralError
    from .errors import DepthLimitError as DepthLimitError
    from .errors import EnvNotReadyError as EnvNotReadyError
    from .errors import FanOutLimitError as FanOutLimitError
    from .errors import RunCancelledError as RunCancelledError
    from .errors import UnknownActionError as UnknownActionError
    from .errors import UnknownProjectError as UnknownProjectError
    from .errors import UsageError as UsageError
    from .execute import Limits as Limits
    from .reports import EnvInfo as EnvInfo
    from .reports import OutputRecord as OutputRecord
    from .reports import PrepareProgress as PrepareProgress
    from .reports import PrepareReport as PrepareReport
    from .reports import ProjectInfo as ProjectInfo
    from .reports import ProjectReport as ProjectReport
    from .reports import RunnerSnapshot as RunnerSnapshot
    from .reports import RunnerState as RunnerState
    from .reports import WorkspaceReport as WorkspaceReport
    from .runs import RunProgress as RunProgress
    from .supervisor import RunnerUnavailableError as RunnerUnavailableError
    from .workspace import WorkspaceManager as WorkspaceManager

_LAZY: dict[str, str] = {
    "ConfigError": "config",
    "CorralError": "errors",
    "DepthLimitError": "errors",
    "EnvNotReadyError": "errors",
    "FanOutLimitError": "errors",
    "RunCancelledError": "errors",
    "UnknownActionError": "errors",
    "UnknownProjectError": "errors",
    "UsageError": "errors",
    "Limits": "execute",
    "EnvInfo": "reports",
    "PrepareProgress": "reports",
    "PrepareReport": "reports",
    "ProjectInfo": "reports",
    "ProjectReport": "reports",
    "RunnerState": "reports",
    "RunnerSnapshot": "reports",
    "WorkspaceReport": "reports",
    "OutputRecord": "reports",
    "RunProgress": "runs",
    "RunnerUnavailableError": "supervisor",
    "WorkspaceManager": "workspace",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605


def __getattr__(name: str) -> Any:
    # Not corral_protocol's lazy helper: importing that package costs msgspec, and
    # ``corral.cli`` must start a fork server with the standard library only (forkhint).
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
