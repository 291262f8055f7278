"""The pre-commit hooks of ``.pre-commit-hooks.yaml``, run by real pre-commit.

pre-commit (from PyPI, in a throwaway venv made by uv) installs the hooks from a git snapshot
of this checkout (``pip install .`` plus Corral's packages by path), in a temporary git
repository holding a Corral project: a staged file with a finding fails the lint hook, which
prints it; once fixed, the hook passes; a staged file outside every project is skipped;
the format hook rewrites a badly formatted file as ruff would. ``CI`` is set, so Corral runs
embedded and leaves no server behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uv

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_APP = REPO / "examples" / "workspace" / "app"
GIT = ["git", "-c", "user.email=test@example.com", "-c", "user.name=test"]

pytestmark = pytest.mark.timeout(600)


def _snapshot(target: Path) -> str:
    """This checkout's files (committed or not, ignored ones left out) committed in a new
    repository at ``target``: pre-commit installs hooks from a git revision."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            (target / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / os.fsdecode(name))
    subprocess.run([*GIT, "init", "-q"], cwd=target, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True)
    subprocess.run([*GIT, "commit", "-qm", "snapshot"], cwd=target, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=target, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_hooks_fail_on_findings_pass_when_clean_and_format(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv_bin = uv.find_uv_bin()
    subprocess.run([uv_bin, "venv", "-q", "--no-project", str(venv)], check=True)
    subprocess.run(
        [uv_bin, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "pre-commit"],
        check=True,
    )
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    rev = _snapshot(hooks)

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(EXAMPLE_APP, repo / "app", ignore=shutil.ignore_patterns(".corral"))
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n"
        "  - id: corral-lint\n  - id: corral-format\n"
    )
    (repo / "notes.txt").write_text("outside every project\n")
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "VIRTUAL_ENV"))},
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "CI": "1",
        "NO_COLOR": "1",
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)
    )

    def hook(hook_id: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "pre-commit"), "run", hook_id],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=500,
            check=False,
        )

    module = repo / "app" / "src" / "app" / "__init__.py"
    original = module.read_text()

    lint = hook("corral-lint")
    assert lint.returncode == 1, lint.stdout + lint.stderr
    assert "F401 `os` imported but unused" in lint.stdout
    assert "corral lint" in lint.stdout

    module.write_text(original.replace("import os\n", ""))
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    clean = hook("corral-lint")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout

    before = module.read_bytes()
    formatted = hook("corral-format")
    assert formatted.returncode == 1, formatted.stdout  # pre-commit: the hook changed files
    assert "files were modified by this hook" in formatted.stdout
    expected = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "-"], input=before, capture_output=True, check=True
    ).stdout
    assert module.read_bytes() == expected != before
