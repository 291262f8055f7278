"""Execution environments: project-local environments built by one backend per env kind.

An environment is ``<project>/.corral/envs/<name>/``. Python environments get their
dependencies plus ``corral-runner``; environments of other runners get only their
dependencies. Corral's own packages (corral-runner, and e.g. corral-python when named as a
dependency) come from the Corral installation itself, never from a package index
(:mod:`corral.envs.own`). See DESIGN.md, "Execution environments".

- :class:`EnvRequest`, :func:`env_dir`, :func:`env_python`, :func:`runner_command`
- :class:`OwnPackages`, :class:`OwnPackage`, :class:`Fingerprints`
- :func:`env_status` (cheap: stat + stamp), :func:`check_env` (starts the interpreter)
- :class:`EnvPreparer` (parallel create/update/skip)
- :class:`EnvBackend` (the interface), :class:`EnvBackends` (one per kind: ``python`` with
  uv, :mod:`corral.envs.pybackend`; ``node`` with npm, :mod:`corral.envs.nodebackend`)
"""

from corral.envs.backend import BuildJob, Built, EnvBackend
from corral.envs.locking import LockOutcome
from corral.envs.nodetool import NodeMissingError, NodeTool, find_node
from corral.envs.own import OwnPackage, OwnPackageError, OwnPackages
from corral.envs.paths import base_interpreter, env_dir, env_python
from corral.envs.prepare import (
    DEFAULT_TIMEOUT,
    EnvPreparer,
    PrepareEvent,
    PreparePhase,
    PrepareResult,
    PrepareStatus,
)
from corral.envs.registry import EnvBackends
from corral.envs.request import EnvRequest, runner_command
from corral.envs.source import Fingerprints
from corral.envs.status import (
    DEFAULT_CHECK_TIMEOUT,
    EnvState,
    EnvStatus,
    check_env,
    env_status,
    fix_command,
)
from corral.envs.uvtool import UvTool, bundled_uv_version

__all__ = [
    "DEFAULT_CHECK_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "BuildJob",
    "Built",
    "EnvBackend",
    "EnvBackends",
    "EnvPreparer",
    "EnvRequest",
    "EnvState",
    "EnvStatus",
    "Fingerprints",
    "LockOutcome",
    "NodeMissingError",
    "NodeTool",
    "OwnPackage",
    "OwnPackageError",
    "OwnPackages",
    "PrepareEvent",
    "PreparePhase",
    "PrepareResult",
    "PrepareStatus",
    "UvTool",
    "base_interpreter",
    "bundled_uv_version",
    "check_env",
    "env_dir",
    "env_python",
    "env_status",
    "find_node",
    "fix_command",
    "runner_command",
]
