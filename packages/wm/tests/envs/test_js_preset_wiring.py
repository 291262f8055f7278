"""The shipped ``corral-js`` preset: read by the WM from packages/handlers-js (never asked of
the dev_workspace runner, never a Python dependency), and its handler package installed
into Node envs from this checkout, never from the npm registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from corral.catalog import ProjectCatalog
from corral.config import ConfigError, ProjectConfig, load_project
from corral.envs import EnvRequest
from corral.envs.nodebackend import npm_spec, own_package_name
from corral.envs.nodetool import js_preset_file, own_npm_package
from corral.envservice import env_request
from corral.preset_cache import CachedPreset

CHECKOUT = Path(__file__).resolve().parents[4]


def js_project(tmp_path: Path, presets: str = '["corral-js"]') -> Path:
    (tmp_path / "corral.toml").write_text(f"presets = {presets}\n")
    return tmp_path


def resolve(root: Path) -> tuple[ProjectConfig, list[tuple[str, ...]]]:
    asked: list[tuple[str, ...]] = []

    async def fetch(raw: ProjectConfig) -> list[CachedPreset]:
        asked.append(tuple(raw.presets))
        raise ConfigError(raw.config_file, "presets", found="x", expected="no fetch")

    async def main() -> ProjectConfig:
        catalog = ProjectCatalog(root, fetch)
        catalog.reload()
        return await catalog.config(root)

    return asyncio.run(main()), asked


def test_corral_js_is_applied_without_the_dev_workspace_runner(tmp_path: Path) -> None:
    config, asked = resolve(js_project(tmp_path))

    assert asked == []
    assert set(config.actions) == {"lint", "format", "check-format"}
    [eslint] = config.actions["lint"].handlers
    assert (eslint.source, eslint.env) == ("corral-handlers-js:lint", "js_tools")
    assert config.envs["js_tools"].kind == "node"
    request = env_request(config, "js_tools")
    assert request.kind == "node"
    assert set(request.dependencies) == {"eslint@^9", "prettier@^3", "corral-handlers-js"}
    assert "corral-js" not in env_request(config, "dev_workspace").dependencies


def test_a_python_preset_beside_it_is_still_asked_of_the_runner(tmp_path: Path) -> None:
    root = js_project(tmp_path, '["corral-python", "corral-js"]')
    with pytest.raises(ConfigError, match="no fetch"):
        resolve(root)
    config = load_project(root)
    assert "corral-python" in env_request(config, "dev_workspace").dependencies
    assert "corral-js" not in env_request(config, "dev_workspace").dependencies


def test_the_preset_file_is_the_checkouts_handlers_js_preset() -> None:
    assert js_preset_file() == CHECKOUT / "packages" / "handlers-js" / "preset.toml"


@pytest.mark.parametrize(
    ("spec", "own"),
    [
        ("corral-handlers-js", "corral-handlers-js"),
        ("corral-handlers-js@^0.1", "corral-handlers-js"),
        ("corral-runner-node", "corral-runner-node"),
        ("eslint@^9", None),
        ("@corral/handlers-js", None),
        ("corral-handlers-jsx", None),
    ],
)
def test_own_npm_packages_are_recognised_by_name(spec: str, own: str | None) -> None:
    assert own_package_name(spec) == own


def test_own_npm_packages_are_installed_from_the_checkout(tmp_path: Path) -> None:
    request = EnvRequest(tmp_path, "js_tools", ("corral-handlers-js",), kind="node")
    directory = own_npm_package("corral-handlers-js")
    assert directory == CHECKOUT / "packages" / "handlers-js"
    assert npm_spec(request, "corral-handlers-js") == f"corral-handlers-js@file:{directory}"
    assert npm_spec(request, "eslint@^9") == "eslint@^9"
