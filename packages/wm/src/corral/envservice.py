"""The workspace's execution environments: what each must hold, whether it is ready, preparing.

:class:`EnvService` turns a project's configuration into :class:`~corral.envs.EnvRequest`s
(the env's dependencies, Corral's own packages from the checkout the WM runs from, the
presets shipped with Corral that the project uses), answers cheap statuses (a ``ready``
answer is shared for :data:`READY_TTL`: a command checks its envs, then starts their
runners) and prepares envs in parallel with progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from .config import WORKSPACE_ENV, ProjectConfig
from .config.project import WM_PRESETS, canonical_name, declared_distributions
from .envs import (
    DEFAULT_CHECK_TIMEOUT,
    DEFAULT_TIMEOUT,
    EnvBackends,
    EnvPreparer,
    EnvRequest,
    EnvStatus,
    Fingerprints,
    OwnPackages,
    UvTool,
)

__all__ = ["READY_TTL", "EnvService"]

READY_TTL = 1.0
"""Seconds a ``ready`` env status is reused (see :meth:`EnvService.status`)."""


def env_request(config: ProjectConfig, env: str) -> EnvRequest:
    """What env ``env`` of the project must contain.

    Its configured dependencies; for ``dev_workspace`` also the presets shipped with Corral
    that the project uses and does not declare itself, except those the WM reads itself
    (:data:`~corral.config.project.WM_PRESETS`; the configuration has already refused
    any other preset, see :func:`corral.config.check_presets`); Corral's own packages come
    from the installed Corral (:mod:`corral.envs.own`). Every Python env is locked
    (``<project>/pylock.corral-<env>.toml``, see :mod:`corral.envs.pylock`); a Node env
    keeps npm's ``package-lock.json`` in its env directory (:mod:`corral.envs.nodebackend`).
    """
    spec = config.envs.get(env)
    deps = list(spec.dependencies) if spec else []
    if env == WORKSPACE_ENV:
        declared = declared_distributions(tuple(deps)) | set(WM_PRESETS)
        deps.extend(p for p in config.presets if canonical_name(p) not in declared)
    return EnvRequest(
        project=config.root,
        name=env,
        dependencies=tuple(dict.fromkeys(deps)),
        python=spec.python if spec else None,
        runner=tuple(spec.runner) if spec and spec.runner else None,
        install_project=spec.install_project if spec else False,
        locked=spec is None or spec.kind == "python",  # a node env keeps npm's lock inside
        kind=spec.kind if spec else "python",
    )


class EnvService:
    """See the module docstring."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.own = OwnPackages.detect()
        self._fingerprints = Fingerprints()
        self._ready: dict[EnvRequest, tuple[float, EnvStatus]] = {}
        self._backends = EnvBackends(
            self.own, UvTool.bundled(), timeout=DEFAULT_TIMEOUT, check_timeout=DEFAULT_CHECK_TIMEOUT
        )
        self._clock = clock

    def requests(
        self, configs: Iterable[ProjectConfig], envs: Sequence[str] | None = None
    ) -> list[EnvRequest]:
        """The env requests of ``configs`` (all their envs, or those named in ``envs``)."""
        return [
            env_request(config, env)
            for config in configs
            for env in sorted(config.envs)
            if envs is None or env in envs
        ]

    def status(self, request: EnvRequest) -> EnvStatus:
        """The cheap status of one env. Checkout fingerprints are shared for a second, and
        so is a ``ready`` answer; :meth:`forget` drops both."""
        now = self._clock()
        known = self._ready.get(request)
        if known is not None and now - known[0] < READY_TTL:
            return known[1]
        status = self._backends.of(request).status(request, self._fingerprints)
        if status.state == "ready":
            self._ready[request] = (now, status)
        else:
            self._ready.pop(request, None)
        return status

    def runner_command(self, request: EnvRequest) -> list[str]:
        """The argv that starts the runner of ``request``'s env (its backend's)."""
        return self._backends.of(request).runner_command(request)

    def describe(self, request: EnvRequest) -> str:
        """What runs ``request``'s env (e.g. which interpreter or node), for statuses."""
        return self._backends.of(request).describe(request)

    def forget(self) -> None:
        """Compare everything afresh from now on (envs are about to change)."""
        self._fingerprints = Fingerprints()
        self._ready.clear()

    def preparer(self, jobs: int) -> EnvPreparer:
        """A preparer for one preparation (use it with ``with``: the runner wheels it builds
        are shared by all its calls and deleted at the end). Statuses are compared afresh
        from now on."""
        self.forget()
        return EnvPreparer(self.own, jobs=jobs)
