"""The Python reference runner as the Workspace Manager sees it: names, never imports.

The WM never imports ``corral_runner`` (it runs in the envs, not in the WM's process); it
only names it: in the argv that starts a Python env's runner, in the program a fork server
runs, in the built-in preset resolver's handler source and in the check that an env can
import it. Every such name is here, so that renaming a runner module is one edit.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FORK_SERVER_BOOTSTRAP",
    "PRESET_RESOLVER_SOURCE",
    "RUNNER_ARGS",
    "RUNNER_DIST",
    "RUNNER_PACKAGE",
]

RUNNER_PACKAGE: Final = "corral_runner"
"""The import name of the Python runner (``python -m corral_runner`` runs one)."""
RUNNER_DIST: Final = "corral-runner"
"""Its distribution name (what envs install)."""
RUNNER_ARGS: Final = ("-m", RUNNER_PACKAGE)
"""What follows the env's interpreter in the argv that starts a Python runner."""
PRESET_RESOLVER_SOURCE: Final = f"{RUNNER_PACKAGE}.builtins:resolve_presets"
"""The handler every ``dev_workspace`` runner serves to resolve presets."""
FORK_SERVER_BOOTSTRAP: Final = (
    f"import sys; from {RUNNER_PACKAGE}.forkserver import serve; "
    "serve(int(sys.argv[1]), sys.argv[2:])"
)
"""The ``-c`` program of ``<env python> -c BOOTSTRAP <control fd> [handler module ...]``
(a fork server, see ``corral_runner.forkserver``)."""
