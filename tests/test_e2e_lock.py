"""Lock files through the ``corral`` CLI: ``corral lock [--upgrade]``, a stale lock in
``status`` and ``prepare-envs``, a lock that cannot be resolved. Real uv, real index."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from example_workspace import PYTHON_ONLY

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "workspace"


def corral(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(root), *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_lock_status_and_prepare_say_what_happens_to_lock_files(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, root, ignore=PYTHON_ONLY)
    app = root / "app"
    lock = app / "pylock.corral-dev_no_runtime.toml"
    pyproject = app / "pyproject.toml"
    original = pyproject.read_text()

    current = corral(root, "lock")
    assert current.returncode == 0, current.stdout + current.stderr
    assert "6 lock files: 0 created, 0 updated, 6 unchanged, 0 failed" in current.stdout

    pyproject.write_text(
        original + '\n[tool.corral.envs.dev_no_runtime]\ndependencies = ["iniconfig==2.0.0"]\n'
    )
    status = corral(root, "status")
    [row] = [s for s in status.stdout.splitlines() if re.match(r"app\s+dev_no_runtime\s", s)]
    assert "does not exist yet" in row  # not prepared in this copy yet, and:
    assert "its lock file was resolved for other requirements" in row

    prepared = corral(root, "prepare-envs", "--project", str(app), "--env", "dev_no_runtime")
    assert prepared.returncode == 0, prepared.stderr
    assert (
        "locked app:dev_no_runtime: updated app/pylock.corral-dev_no_runtime.toml "
        "(+iniconfig 2.0.0)"
    ) in prepared.stderr
    assert 'name = "iniconfig"\nversion = "2.0.0"' in lock.read_text()

    # Loosened: `corral lock` keeps the pin; --upgrade moves it.
    pyproject.write_text(pyproject.read_text().replace("iniconfig==2.0.0", "iniconfig>=2"))
    kept = corral(root, "lock", "--project", str(app))
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "app:dev_no_runtime: updated app/pylock.corral-dev_no_runtime.toml\n" in kept.stdout
    assert 'name = "iniconfig"\nversion = "2.0.0"' in lock.read_text()
    upgraded = corral(root, "lock", "--upgrade", "--project", str(app), "--env", "dev_no_runtime")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert re.search(r"\(iniconfig 2\.0\.0 -> 2\.\d+\.\d+\)", upgraded.stdout), upgraded.stdout

    # A requirement nothing satisfies: that env's lock fails, with uv's reason; exit 3.
    pyproject.write_text(
        original + '\n[tool.corral.envs.dev_no_runtime]\ndependencies = ["iniconfig>=99"]\n'
    )
    failed = corral(root, "lock", "--project", str(app))
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "app:dev_no_runtime: failed: resolving its lock file failed" in failed.stdout
    assert "No solution found" in failed.stderr
    assert "1 failed" in failed.stdout
