"""The configuration example in packages/wm/README.md is valid configuration."""

from __future__ import annotations

from pathlib import Path

from corral.config import load_project

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_configuration_loads(tmp_path: Path) -> None:
    block = README.read_text().split("```toml\n")[1].split("```")[0]
    (tmp_path / "pyproject.toml").write_text(block)
    config = load_project(tmp_path)
    assert config.presets == ("corral-python",)
    assert config.actions["lint"].mode == "concurrent"
    assert config.runner.restart.max_crashes == 3
    assert "ruff>=0.16" in config.envs["dev_no_runtime"].dependencies
    assert "dev_workspace" in config.envs
