"""The env backends of one preparation or service, keyed by env kind.

:data:`corral.envkind.ENV_KINDS` (the configuration validates ``kind`` against it) names
every kind; :class:`EnvBackends` makes one backend of each and hands out the one a
request's :attr:`~corral.envs.request.EnvRequest.kind` asks for.
"""

from __future__ import annotations

from corral.envkind import ENV_KINDS
from corral.envs.backend import EnvBackend
from corral.envs.nodebackend import NodeBackend
from corral.envs.own import OwnPackages
from corral.envs.pybackend import PythonBackend
from corral.envs.request import EnvRequest
from corral.envs.uvtool import UvTool

__all__ = ["ENV_KINDS", "EnvBackends"]


class EnvBackends:
    """One backend per kind (:data:`ENV_KINDS`), sharing the timeouts given."""

    def __init__(
        self, own: OwnPackages, uv: UvTool, *, timeout: float, check_timeout: float
    ) -> None:
        python = PythonBackend(own, uv, timeout=timeout, check_timeout=check_timeout)
        node = NodeBackend(timeout=timeout, check_timeout=check_timeout)
        self._backends: dict[str, EnvBackend] = {python.kind: python, node.kind: node}
        missing = set(ENV_KINDS) - set(self._backends)
        if missing:  # pragma: no cover - a kind added to ENV_KINDS without its backend
            raise AssertionError(f"no backend for env kinds {sorted(missing)}")

    def of(self, request: EnvRequest) -> EnvBackend:
        """The backend of ``request.kind`` (construction validated the kind)."""
        return self._backends[request.kind]

    def close(self) -> None:
        """Close every backend (see :meth:`EnvBackend.close`)."""
        for backend in self._backends.values():
            backend.close()
