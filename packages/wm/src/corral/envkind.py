"""The kinds of execution environment (``[tool.corral.envs.NAME] kind``), defined once.

The configuration validates ``kind`` against :data:`ENV_KINDS`; the env backends
(:mod:`corral.envs.registry`) provide one backend per kind.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DEFAULT_ENV_KIND", "ENV_KINDS", "EnvKind"]

EnvKind = Literal["python", "node"]
"""``python``: a uv virtual environment running corral-runner; ``node``: an npm package
directory running the Node runner (``packages/er-node``)."""

ENV_KINDS: tuple[str, ...] = get_args(EnvKind)
DEFAULT_ENV_KIND: EnvKind = "python"
