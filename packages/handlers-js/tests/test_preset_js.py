"""The corral-js preset: its handlers run in a Node env and name exports that exist."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from nodejs_runtime import find_node

PACKAGE = Path(__file__).resolve().parents[1]
PRESET = tomllib.loads((PACKAGE / "preset.toml").read_text(encoding="utf-8"))


def test_preset_handlers_name_exports_of_the_package() -> None:
    manifest = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    exported = subprocess.run(
        [str(find_node()), "-e", "import('./src/index.js').then(m => console.log(Object.keys(m)))"],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    handlers = [h for action in PRESET["actions"].values() for h in action["handlers"]]
    assert {a for a in PRESET["actions"]} == {"lint", "format", "check-format"}
    for handler in handlers:
        package, export = handler["source"].rsplit(":", 1)
        assert package == manifest["name"]
        assert export in exported, (export, exported)
        assert PRESET["envs"][handler["env"]]["kind"] == "node"
        assert manifest["name"] in handler["dependencies"]
