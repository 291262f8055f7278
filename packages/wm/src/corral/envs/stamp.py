"""The stamp: what an environment was last prepared from, to skip unchanged ones cheaply.

``<env dir>/.corral-stamp.json`` is written (atomically, via a temporary file and
``os.replace``) only after an install succeeded and the environment's interpreter
answered a probe; it is deleted *before* anything in the environment is modified, so a
missing stamp always means "not known to be complete". Its ``digest`` is a sha256 of
:class:`EnvInputs` (canonical JSON); an environment is up to date exactly when the stored
digest equals the digest of the current inputs. The stored inputs are kept too, so the
status can say *what* changed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from corral.envs.own import OwnPackages
from corral.envs.paths import base_interpreter, interpreter_version, stamp_path
from corral.envs.project import ProjectMetadata, project_metadata
from corral.envs.pylock import lock_inputs, lock_state, locks
from corral.envs.request import EnvRequest
from corral.envs.source import source_fingerprint

# Bump when the stamp format or the way environments are built changes incompatibly:
# every environment is then recreated.
SCHEMA = 3  # 2: envs are installed with precompiled bytecode; 3: Corral's packages by identity


@dataclass(frozen=True)
class EnvInputs:
    """Everything an environment's content depends on (and nothing else).

    - ``dependencies``: sorted, de-duplicated requirement strings;
    - ``python_request``: the request's ``python`` (None = the WM's interpreter);
    - ``python_interpreter`` / ``python_version``: for ``python_request=None`` the WM's
      real interpreter path and ``X.Y.Z`` (so running the WM on another Python makes envs
      stale); None for explicit requests (uv resolves those; the result is recorded in
      the stamp's ``python`` entry, not compared);
    - ``corral_packages``: :meth:`~corral.envs.own.OwnPackages.identity` of the Corral
      packages the env gets (corral-runner for a Python env, and any named in its
      dependencies), ``"none"`` if it gets none;
    - ``uv_version``: the uv that builds it;
    - ``local_sources``: ``<path>=<fingerprint>`` of every dependency that is a local
      directory, so editing its source makes the env stale;
    - ``project``: the project's :attr:`~corral.envs.project.ProjectMetadata.identity` for
      an env that installs it, ``"no"`` otherwise;
    - ``lock``: for a locked env the sha256 of its lock file when that is fresh, else
      ``"missing"`` or ``"stale"`` (:meth:`~corral.envs.pylock.LockState.stamp_value`);
      ``"none"`` for an env without a lock;
    - ``schema``: :data:`SCHEMA`.
    """

    dependencies: tuple[str, ...]
    python_request: str | None
    python_interpreter: str | None
    python_version: str | None
    corral_packages: str
    uv_version: str
    local_sources: tuple[str, ...] = ()
    project: str = "no"
    lock: str = "none"
    schema: int = SCHEMA

    def as_json(self) -> dict[str, Any]:
        """JSON-ready mapping (lists for tuples)."""
        data = asdict(self)
        data["dependencies"] = list(self.dependencies)
        data["local_sources"] = list(self.local_sources)
        return data

    def digest(self) -> str:
        """sha256 hex of the canonical JSON of :meth:`as_json`."""
        canonical = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def compute_inputs(
    request: EnvRequest,
    *,
    own_identity: str,
    uv_version: str,
    interpreter: Path | None = None,
    fingerprint: Callable[[Path], str] = source_fingerprint,
    lock: str = "none",
    meta: ProjectMetadata | None = None,
) -> EnvInputs:
    """The inputs of ``request``. Cheap (no subprocess).

    ``own_identity`` is the identity of the Corral packages it gets
    (:meth:`~corral.envs.own.OwnPackages.identity`);
    ``interpreter`` overrides :func:`base_interpreter` (pass it when computing many);
    ``fingerprint`` fingerprints local-directory dependencies.
    """
    if request.python is None:
        python_interpreter: str | None = str(interpreter or base_interpreter())
        python_version: str | None = interpreter_version()
    else:
        python_interpreter = python_version = None
    local = []
    for dependency in sorted(set(request.dependencies)):
        path = request.project / dependency
        if path.is_dir():  # an absolute dependency path replaces the project prefix
            local.append(f"{path}={fingerprint(path)}")
    return EnvInputs(
        local_sources=tuple(local),
        dependencies=tuple(sorted(set(request.dependencies))),
        python_request=request.python,
        python_interpreter=python_interpreter,
        python_version=python_version,
        corral_packages=own_identity,
        project=(meta or project_metadata(request.project)).identity
        if request.install_project
        else "no",
        lock=lock,
        uv_version=uv_version,
    )


def env_inputs(
    request: EnvRequest,
    own: OwnPackages,
    *,
    uv_version: str,
    interpreter: Path | None = None,
    fingerprint: Callable[[Path], str] = source_fingerprint,
) -> EnvInputs:
    """:func:`compute_inputs` with the identity of the Corral packages ``request`` gets
    from ``own`` and the state of its lock file. Cheap (a few small reads)."""
    meta = project_metadata(request.project) if request.install_project or request.locked else None
    lock = "none"
    if locks(request, own, meta):
        lock = lock_state(request, lock_inputs(request, own, meta)).stamp_value
    return compute_inputs(
        request,
        meta=meta,
        own_identity=own.identity(own.needed(request), fingerprint),
        uv_version=uv_version,
        interpreter=interpreter,
        fingerprint=fingerprint,
        lock=lock,
    )


@dataclass(frozen=True)
class Stamp:
    """A parsed stamp file. ``inputs`` is the raw stored mapping (maybe from an old schema)."""

    schema: int
    digest: str
    inputs: dict[str, Any]
    python: dict[str, Any]
    prepared_at: str


def read_stamp(request: EnvRequest) -> Stamp | None:
    """The environment's stamp, or None if it is missing, unreadable or malformed."""
    try:
        data = json.loads(stamp_path(request.project, request.name).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    schema, digest, inputs = data.get("schema"), data.get("digest"), data.get("inputs")
    python, prepared_at = data.get("python", {}), data.get("prepared_at", "")
    if not (
        isinstance(schema, int)
        and isinstance(digest, str)
        and isinstance(inputs, dict)
        and isinstance(python, dict)
        and isinstance(prepared_at, str)
    ):
        return None
    return Stamp(schema, digest, inputs, python, prepared_at)


class StampInputs(Protocol):
    """What a backend's stamp records: its schema, a JSON form and that form's digest."""

    @property
    def schema(self) -> int: ...

    def as_json(self) -> dict[str, Any]: ...

    def digest(self) -> str: ...


def write_stamp(
    request: EnvRequest, inputs: StampInputs, *, python: dict[str, Any], source: str
) -> Path:
    """Atomically write the stamp for a successfully prepared environment; return its path.

    ``python`` records the interpreter the environment was built on (``executable``,
    ``version``), ``source`` a human description of where its Corral packages came from.
    """
    path = stamp_path(request.project, request.name)
    payload = {
        "schema": inputs.schema,
        "digest": inputs.digest(),
        "inputs": inputs.as_json(),
        "python": python,
        "corral_packages_from": source,
        "prepared_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_stamp(request: EnvRequest) -> None:
    """Delete the stamp if present (before an environment is modified)."""
    with contextlib.suppress(FileNotFoundError):
        stamp_path(request.project, request.name).unlink()


def describe_changes(stored: dict[str, Any], current: EnvInputs) -> list[str]:
    """Human phrases naming what differs between stored and current inputs.

    E.g. ``"dependencies changed (+six, -iniconfig)"``, ``"python changed (3.11.7 → 3.12.1)"``,
    ``"Corral's packages changed (...)"``, ``"uv changed (0.13.8 → 0.14.0)"``. Empty if nothing
    recognisable differs.
    """
    now = current.as_json()
    changes: list[str] = []
    if stored.get("schema") != now["schema"]:
        return [f"stamp format changed (schema {stored.get('schema')} → {now['schema']})"]
    old_deps = stored.get("dependencies")
    if old_deps != now["dependencies"]:
        old = set(old_deps) if isinstance(old_deps, list) else set()
        new = set(now["dependencies"])
        delta = [f"+{d}" for d in sorted(new - old)] + [f"-{d}" for d in sorted(old - new)]
        changes.append("dependencies changed" + (f" ({', '.join(delta)})" if delta else ""))
    python_keys = ("python_request", "python_interpreter", "python_version")
    if any(stored.get(k) != now[k] for k in python_keys):
        changes.append(f"python changed ({_python(stored)} → {_python(now)})")
    if stored.get("corral_packages") != now["corral_packages"]:
        changes.append(f"Corral's packages changed ({_own(stored)} → {_own(now)})")
    if stored.get("local_sources", []) != now["local_sources"]:
        changes.append("local package source changed")
    if stored.get("project", "no") != now["project"]:
        changes.append("the project's dependencies or build settings changed")
    note = lock_note(now["lock"])
    if note is not None:
        changes.append(note)
    elif stored.get("lock", "none") != now["lock"]:
        changes.append("its lock file changed")
    if stored.get("uv_version") != now["uv_version"]:
        changes.append(f"uv changed ({stored.get('uv_version')} → {now['uv_version']})")
    return changes


def lock_note(lock: str) -> str | None:
    """What an env's ``lock`` input says about its lock file when that needs work."""
    if lock == "missing":
        return "it has no lock file yet (preparing it creates one)"
    if lock == "stale":
        return (
            "its lock file was resolved for other requirements (preparing it, or "
            "'corral lock', updates the lock)"
        )
    return None


def _python(inputs: dict[str, Any]) -> str:
    request = inputs.get("python_request")
    if request is not None:
        return repr(request)
    return f"{inputs.get('python_version')} at {inputs.get('python_interpreter')}"


def _own(inputs: dict[str, Any]) -> str:
    """``corral-runner==0.1.0 installed, ...`` (names, versions, origins; no digests)."""
    value = inputs.get("corral_packages")
    if not isinstance(value, str):
        return "unknown"
    if value == "none":
        return "none"
    return ", ".join(" ".join(part.split()[:2]) for part in value.split("; "))
