"""An environment without ruff or mypy: the handlers fail with ``ToolMissing``.

The environment is real: a fresh venv holding only corral-protocol, corral-runner and this
package, installed (built as wheels where uv builds them) from the checkout with uv. Its
own ``python -m corral_runner`` serves the project, so the handlers also load from the
installed wheel, through their entry points as well as by module path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import uv
from runner_harness import run, running

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = [
    ROOT / "packages" / name for name in ("protocol-spec", "wal", "er-python", "handlers-python")
]
DISTRIBUTIONS = ("corral-protocol", "corral-runner", "corral-python")
ENV = "dev_no_runtime"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv with the corral packages but neither ruff nor mypy."""
    uv_bin = uv.find_uv_bin()
    venv = tmp_path_factory.mktemp("bare-env") / "venv"
    subprocess.run(
        [uv_bin, "venv", "--quiet", "--python", sys.executable, str(venv)],
        check=True,
        capture_output=True,
    )
    python = venv / "bin" / "python"
    install = [uv_bin, "pip", "install", "--quiet", "--python", str(python)]
    for name in DISTRIBUTIONS:  # rebuild the local packages: their sources may have changed
        install += ["--refresh-package", name]
    install += [str(p) for p in PACKAGES]
    # From uv's cache if it can (no network needed), else from the index.
    if subprocess.run([*install, "--offline"], check=False, capture_output=True).returncode != 0:
        subprocess.run(install, check=True, capture_output=True)
    probe = subprocess.run(
        [str(python), "-c", "import corral_python, corral_runner; import ruff"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert "No module named 'ruff'" in probe.stderr, probe.stderr
    return python


def missing(tool: str, requirement: str, project: Path) -> str:
    return (
        f'{tool} is not installed in environment "{ENV}" of project {project}: add '
        f'"{requirement}" to [tool.corral.envs.{ENV}].dependencies '
        "(or to the handler's dependencies) and run: corral prepare-envs"
    )


def test_missing_tools_raise_tool_missing(bare_python: Path, sample_project: Path) -> None:
    async def scenario() -> None:
        argv = [str(bare_python), "-m", "corral_runner"]
        async with running(sample_project, argv=argv, env=ENV) as runner:
            loaded = await runner.configure(
                {
                    "lint": [("ruff", "corral_python.ruff:lint")],
                    "format": [("ruff-format", "entrypoint:ruff-format")],
                    "check-format": [("ruff-format", "entrypoint:ruff-check-format")],
                    "type-check": [("mypy", "entrypoint:mypy")],
                }
            )
            assert all(h.status == "loaded" for h in loaded.handlers), loaded.handlers
            for action, tool, requirement in [
                ("lint", "ruff", "ruff>=0.16"),
                ("format", "ruff", "ruff>=0.16"),
                ("check-format", "ruff", "ruff>=0.16"),
                ("type-check", "mypy", "mypy>=1.11"),
            ]:
                result = await runner.run(action, {})
                assert result.status == "failed", action
                (outcome,) = result.handlers
                assert outcome.error is not None
                assert outcome.error.type == "ToolMissing", action
                assert outcome.error.message == missing(tool, requirement, sample_project)

    run(scenario())


def test_the_wheel_ships_the_preset(bare_python: Path) -> None:
    shown = subprocess.run(
        [
            str(bare_python),
            "-c",
            "import corral_python, sys; print(corral_python.preset_path());"
            " sys.stdout.write(corral_python.preset_text())",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    path, _, text = shown.stdout.partition("\n")
    assert Path(path).is_relative_to(bare_python.parent.parent)  # inside the venv
    source = ROOT / "packages/handlers-python/src/corral_python/preset.toml"
    assert text == source.read_text(encoding="utf-8")
