"""What an environment should contain (:class:`EnvRequest`) and how its runner is started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.envkind import ENV_KINDS, EnvKind
from corral.envs.paths import absolute, env_python, validate_env_name
from corral.pyrunner import RUNNER_ARGS


@dataclass(frozen=True)
class EnvRequest:
    """One execution environment of one project, as configuration asks for it.

    - ``project``: the project directory; made absolute (not symlink-resolved) on
      construction. The environment lives in ``<project>/.corral/envs/<name>/``.
    - ``name``: the environment name (see :func:`corral.envs.paths.validate_env_name`).
    - ``dependencies``: PEP 508 requirement strings (or paths/URLs uv accepts), passed to
      ``uv pip install`` as separate argv items after ``--``; relative paths are relative
      to the project. A string starting with ``-`` is rejected, so a dependency can never
      act as a uv option.
    - ``python``: ``None`` = the interpreter running the WM (its real binary, see
      :func:`corral.envs.paths.base_interpreter`); otherwise a version request such as
      ``"3.12"`` or an interpreter path, handed to ``uv venv --python`` (relative paths are
      relative to the project).
    - ``runner``: ``None`` for a Python environment, which also gets ``corral-runner``
      and is started with ``<env python> -m corral_runner``; otherwise the argv of another
      runner (e.g. ``("node", "runner.js")``), used as given: the environment is still
      created and its ``dependencies`` installed, but corral-runner is not.
    - ``install_project``: the project itself is installed too, editable, with its
      runtime dependencies (when it is installable, see :mod:`corral.envs.project`).
    - ``kind``: one of :data:`ENV_KINDS`, which picks the backend that builds the env
      (:mod:`corral.envs.backend`).
    - ``locked``: the env is installed from its lock file
      (``<project>/pylock.corral-<name>.toml``, see :mod:`corral.envs.pylock`), which
      preparation creates or updates when it is missing or stale.

    Construction validates and normalises (``ValueError`` on bad input); instances are
    immutable and hashable.
    """

    project: Path
    name: str
    dependencies: tuple[str, ...] = ()
    python: str | None = None
    runner: tuple[str, ...] | None = None
    install_project: bool = False
    locked: bool = False
    kind: EnvKind = "python"

    def __post_init__(self) -> None:
        object.__setattr__(self, "project", absolute(Path(self.project)))
        validate_env_name(self.name)
        if self.kind not in ENV_KINDS:
            raise ValueError(
                f"environment {self.name!r}: unknown kind {self.kind!r} (one of {ENV_KINDS})"
            )
        deps = tuple(self.dependencies)
        for dep in deps:
            if not isinstance(dep, str) or not dep.strip():
                raise ValueError(f"environment {self.name!r}: empty dependency in {deps!r}")
            if dep.lstrip().startswith("-"):
                raise ValueError(
                    f"environment {self.name!r}: dependency {dep!r} looks like an option; "
                    "dependencies must be requirement strings"
                )
        object.__setattr__(self, "dependencies", deps)
        if self.python is not None and not self.python.strip():
            raise ValueError(f"environment {self.name!r}: empty python request")
        if self.runner is not None:
            runner = tuple(self.runner)
            if not runner or not all(isinstance(arg, str) for arg in runner) or not runner[0]:
                raise ValueError(
                    f"environment {self.name!r}: runner must be a non-empty argv of strings"
                )
            object.__setattr__(self, "runner", runner)

    @property
    def is_python(self) -> bool:
        """True when the environment runs the Python reference runner (a ``python`` env
        whose ``runner`` is None)."""
        return self.kind == "python" and self.runner is None

    @property
    def label(self) -> str:
        """``<project>:<name>`` for messages."""
        return f"{self.project}:{self.name}"


def runner_command(request: EnvRequest) -> list[str]:
    """The argv that starts the environment's runner (never a shell string).

    Python environments: ``[<absolute env python>, "-m", "corral_runner"]`` (the env's own
    interpreter path, not a shim and not symlink-resolved). Otherwise the request's
    ``runner`` as given. The WM writes the launch record to the process's stdin.
    """
    if request.runner is not None:
        return list(request.runner)
    return [str(env_python(request.project, request.name)), *RUNNER_ARGS]
