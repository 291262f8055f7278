"""The version of each tool in a handler's results (``ToolSummary.version``), so reports and
SARIF logs say which ruff or mypy made a finding.

A handler's environment holds the tool as a distribution; its version is read once per
runner process from the distribution's metadata (no tool process is started for it).
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import msgspec
from corral_protocol.results import ToolResult

__all__ = ["installed_version", "reports_version"]

P = ParamSpec("P")


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` in this environment (None: not there)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def with_version(result: Any, version: str | None) -> Any:
    """``result`` with ``version`` in each of its tools' summaries that has none."""
    if version is None or not isinstance(result, ToolResult):
        return result
    summary = {
        name: tool
        if isinstance(tool.version, str)
        else msgspec.structs.replace(tool, version=version)
        for name, tool in result.summary.items()
    }
    return msgspec.structs.replace(result, summary=summary)


def reports_version(
    distribution: str,
) -> Callable[[Callable[P, Awaitable[Any]]], Callable[P, Awaitable[Any]]]:
    """Decorate a handler so that its results carry ``distribution``'s version."""

    def decorate(handler: Callable[P, Awaitable[Any]]) -> Callable[P, Awaitable[Any]]:
        @functools.wraps(handler)
        async def reporting(*args: P.args, **kwargs: P.kwargs) -> Any:
            return with_version(await handler(*args, **kwargs), installed_version(distribution))

        return reporting

    return decorate
