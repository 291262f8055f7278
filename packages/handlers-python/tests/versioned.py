"""``ok`` for corral-python's results: each tool's summary must carry the installed tool's
version (``ToolSummary.version``); it is checked here and taken out, so that the tests
compare the counts alone."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from corral_protocol.messages import RunResult
from runner_harness import ok as plain_ok

DISTRIBUTIONS = {"ruff": "ruff", "ruff-format": "ruff", "mypy": "mypy"}


def without_versions(data: Any) -> Any:
    """``data`` with every tool summary's version checked and removed."""
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        for name, summary in data["summary"].items():
            expected = importlib.metadata.version(DISTRIBUTIONS[name])
            assert summary.pop("version", None) == expected, (name, summary)
    return data


def ok(result: RunResult) -> Any:
    """The run's result as plain JSON data (every handler succeeded), versions checked."""
    return without_versions(plain_ok(result))
