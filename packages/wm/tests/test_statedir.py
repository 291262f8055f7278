"""What Corral writes in a project (``.corral/``) is invisible to git and to bare ruff, mypy
and pytest, with nothing in the project's configuration, outside a git repository too."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from corral.envs import EnvPreparer, EnvRequest, env_dir
from corral.statedir import MARKERS, ensure_state_dir

PROJECT = {
    "pyproject.toml": '[project]\nname = "sample"\nversion = "0"\n',
    "src/sample/__init__.py": "import os\n",  # F401, and nothing else for any tool
    "tests/test_sample.py": "def test_ok() -> None:\n    assert True\n",
}
# What a tool must never see: a lint error, a type error and a failing test.
LEAK = "import os\n\nx: int = 'a'\n\n\ndef test_leak() -> None:\n    assert False\n"


def _tool(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_bare_tools_and_git_skip_what_corral_creates(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for relative, text in PROJECT.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    git = subprocess.run(["git", "rev-parse"], cwd=project, capture_output=True, check=False)
    assert git.returncode != 0, "the project must not be inside a git repository"

    request = EnvRequest(project, "tools", (), runner=("node", "runner.js"))  # a bare venv
    with EnvPreparer(jobs=1) as preparer:
        [result] = asyncio.run(preparer.prepare([request]))
    assert result.status == "created", result.error
    venv = env_dir(project, "tools")
    assert (venv / "bin" / "activate_this.py").is_file()  # what bare ruff used to lint
    (venv / "bin" / "test_leak.py").write_text(LEAK)
    (project / ".corral" / "test_leak.py").write_text(LEAK)

    ruff = _tool(project, "ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert ruff.returncode == 1, ruff.stdout + ruff.stderr
    assert ".corral" not in ruff.stdout
    assert "src/sample/__init__.py:1:8: F401" in ruff.stdout
    assert "Found 1 error" in ruff.stdout

    mypy = _tool(project, "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), ".")
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
    assert ".corral" not in mypy.stdout

    pytest_run = _tool(project, "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project))
    assert pytest_run.returncode == 0, pytest_run.stdout + pytest_run.stderr
    assert "1 passed" in pytest_run.stdout

    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ".corral" not in status.stdout
    assert "src/sample/__init__.py" in status.stdout


def test_markers_are_written_once_and_left_alone(tmp_path: Path) -> None:
    directory = ensure_state_dir(tmp_path)
    assert directory == tmp_path / ".corral"
    if sys.platform != "win32":  # envs, caches, the WAL: the owner's only
        assert (directory.stat().st_mode & 0o777) == 0o700
    for name, text in MARKERS.items():
        assert (directory / name).read_text() == text
    (directory / ".gitignore").write_text("# mine\n*\n")
    ensure_state_dir(tmp_path)
    assert (directory / ".gitignore").read_text() == "# mine\n*\n"
