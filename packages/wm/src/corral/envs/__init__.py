"""Execution environments: project-local virtual environments made and filled by uv.

An environment is ``<project>/.corral/envs/<name>/``. Python environments get their
dependencies plus ``corral-runner`` at the WM's own version (from the local checkout when
the WM runs from one, else from the package index); environments of other runners get
only their dependencies. See DESIGN.md, "Execution environments".

- :class:`EnvRequest`, :func:`env_dir`, :func:`env_python`, :func:`runner_command`
- :class:`RunnerSource`, :func:`detect_runner_source`, :class:`Fingerprints`
- :func:`env_status` (cheap: stat + stamp), :func:`check_env` (starts the interpreter)
- :class:`EnvPreparer` (parallel create/update/skip)
"""

from corral.envs.paths import base_interpreter, env_dir, env_python
from corral.envs.prepare import (
    EnvPreparer,
    PrepareEvent,
    PreparePhase,
    PrepareResult,
    PrepareStatus,
)
from corral.envs.request import EnvRequest, runner_command
from corral.envs.source import Fingerprints, RunnerSource, detect_runner_source
from corral.envs.status import EnvState, EnvStatus, check_env, env_status, fix_command
from corral.envs.uvtool import bundled_uv_version

__all__ = [
    "EnvPreparer",
    "EnvRequest",
    "EnvState",
    "EnvStatus",
    "Fingerprints",
    "PrepareEvent",
    "PreparePhase",
    "PrepareResult",
    "PrepareStatus",
    "RunnerSource",
    "base_interpreter",
    "bundled_uv_version",
    "check_env",
    "detect_runner_source",
    "env_dir",
    "env_python",
    "env_status",
    "fix_command",
    "runner_command",
]
