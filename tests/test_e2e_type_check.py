"""type-check through the ``corral`` CLI on a real project with a real runtime dependency.

The project depends on ``iniconfig`` (from the package index) and imports it; mypy runs in
the preset's ``runtime`` environment, which holds the project (editable) and iniconfig, so
the import resolves. Without mypy ``files`` settings, only the project's package is
checked: the type errors planted in its tests and docs are not reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

PROJECT = {
    "pyproject.toml": (
        '[project]\nname = "typed-app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["iniconfig>=2"]\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[tool.corral]\npresets = ["corral-python"]\n'
    ),
    "src/typed_app/__init__.py": (
        "import iniconfig\n\n\n"
        "def sections(text: str) -> list[str]:\n"
        '    return list(iniconfig.IniConfig("x.ini", data=text).sections)\n\n\n'
        "def count() -> int:\n"
        '    return "one"\n'
    ),
    "tests/test_app.py": 'LEAK: int = "tests are not type-checked by default"\n',
    "docs/conf.py": 'LEAK: int = "nor are docs"\n',
}


def test_type_check_sees_the_projects_runtime_dependencies(tmp_path: Path) -> None:
    project = tmp_path / "typed-app"
    for relative, text in PROJECT.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    command = ["run", "type-check", "--format", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "corral", "-C", str(project), *command],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    data = msgspec.json.decode(result.stdout)
    diagnostics = data["result"]["diagnostics"]
    assert [(d["file"], d["code"]) for d in diagnostics] == [
        ("src/typed_app/__init__.py", "return-value")
    ], diagnostics
    runtime = project / ".corral" / "envs" / "runtime"
    freeze = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "freeze", "--python", str(runtime / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "iniconfig==" in freeze
    assert f"-e file://{project}" in freeze  # the project itself, editable
