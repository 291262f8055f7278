"""Lock files: each environment's resolved packages in a PEP 751 ``pylock.toml`` users commit.

**Where.** ``<project>/pylock.corral-<env>.toml``: PEP 751 names a lock ``pylock.<name>.toml``
(a name without dots, so dots in an env name become ``-``) and places it beside the
``pyproject.toml`` it locks. The ``corral-`` prefix keeps Corral's tool environments apart
from a project's own locks (a host that deploys ``pylock.<service>.toml`` must never pick
``pylock.runtime.toml`` because Corral has an env named ``runtime``).

**What.** uv's universal resolution (``uv pip compile --format pylock.toml --universal``:
every platform, every Python from the env's floor up, with hashes) of the env's
requirements, minus Corral's own packages (they come from the Corral installation, see
:mod:`corral.envs.own`; their third-party requirements are locked), plus a ``[tool.corral]``
table, written before the packages so it is read without parsing them::

    [tool.corral]
    env = "dev_no_runtime"
    inputs = "<sha256 of LockInputs>"    # differs from the current one: the lock is stale
    python = "3.11"
    requirements = ["msgspec>=0.18", "ruff>=0.16"]

**Lifecycle** (driven by :class:`~corral.envs.prepare.EnvPreparer`): preparing an env whose
lock is missing creates it; a stale one (the env's requirements, its Python floor, the
project's dependencies or Corral's packages' requirements changed) is resolved again
keeping every pin that still fits (uv reads the old lock as preferences); a fresh one is
installed exactly (``uv pip sync``). ``corral lock --upgrade`` resolves afresh. The
environment's stamp records the lock's sha256, so a lock changed by a ``git pull`` makes
the env stale and the next run installs it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, Literal

from corral.envs.own import OwnPackages, requirement_name
from corral.envs.project import ProjectMetadata, project_metadata
from corral.envs.request import EnvRequest

__all__ = [
    "LOCK_FORMAT",
    "LockInputs",
    "LockState",
    "finish_lock",
    "lock_inputs",
    "lock_state",
    "locked_versions",
    "locks",
    "pylock_path",
    "python_floor",
]

LOCK_FORMAT: Final = 1
"""Bump when what a lock holds changes incompatibly: every lock becomes stale."""
DEFAULT_FLOOR: Final = "3.11"
"""The oldest Python Corral's runner supports: the floor of every resolution."""
_HEADER_END: Final = "\n[[packages]]"
_VERSION = re.compile(r"^\s*(?:==\s*)?3\.(\d+)(?:\.\d+)?\s*$")

LockStatus = Literal["none", "missing", "stale", "fresh"]


def pylock_path(request: EnvRequest) -> Path:
    """``<project>/pylock.corral-<env>.toml`` (``.`` in the env name becomes ``-``)."""
    return request.project / f"pylock.corral-{request.name.replace('.', '-')}.toml"


def python_floor(request: EnvRequest, meta: ProjectMetadata | None = None) -> str:
    """The lowest Python the lock must serve, ``3.N``: the env's own ``python`` when it is
    a version, else the lower bound of the project's ``requires-python``, never below
    :data:`DEFAULT_FLOOR`. Never the interpreter running corral: two developers on
    different Pythons share one lock. ``meta``: the project's, if already read."""
    minor = int(DEFAULT_FLOOR.split(".")[1])
    found: int | None = None
    if request.python is not None:
        match = _VERSION.match(request.python)
        found = int(match.group(1)) if match else None
    if found is None:
        found = (meta or project_metadata(request.project)).python_minor
    return f"3.{max(minor, found or minor)}"


@dataclass(frozen=True)
class LockInputs:
    """What a lock is resolved from (its staleness key); cheap to compute, no subprocess.

    ``requirements``: the env's third-party requirements (sorted, without Corral's own
    packages) plus those of the Corral packages it gets; ``corral_packages``: their names
    (their wheels take part in the resolution); ``project``: the project's install
    identity when the env installs it; ``python``: :func:`python_floor`.
    """

    requirements: tuple[str, ...]
    corral_packages: tuple[str, ...]
    project: str
    python: str
    format: int = LOCK_FORMAT

    def digest(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def editable_project(self) -> bool:
        return self.project.startswith("editable ")


def locks(request: EnvRequest, own: OwnPackages, meta: ProjectMetadata | None = None) -> bool:
    """Whether ``request`` has a lock file: it is locked and gets some package (Corral's,
    a dependency or the project itself). ``meta``: the project's, if already read."""
    if not request.locked:
        return False
    if own.needed(request) or request.dependencies:
        return True
    return request.install_project and (meta or project_metadata(request.project)).installable


def lock_inputs(
    request: EnvRequest, own: OwnPackages, meta: ProjectMetadata | None = None
) -> LockInputs:
    """The :class:`LockInputs` of ``request`` (``meta``: the project's, if already read)."""
    meta = meta or project_metadata(request.project)
    names = own.needed(request)
    third_party = [d for d in request.dependencies if requirement_name(d) not in names]
    third_party += own.third_party_requires(names)
    return LockInputs(
        requirements=tuple(sorted(set(third_party))),
        corral_packages=names,
        project=meta.identity if request.install_project and meta.installable else "no",
        python=python_floor(request, meta),
    )


@dataclass(frozen=True)
class LockState:
    """The lock of one env: ``none`` (the env is not locked), ``missing``, ``stale`` or
    ``fresh``; ``digest`` is the file's sha256 when it exists and is readable."""

    status: LockStatus
    path: Path | None = None
    digest: str | None = None

    @property
    def stamp_value(self) -> str:
        """What an env's stamp records: the file digest when fresh, else the status."""
        return self.digest if self.status == "fresh" and self.digest else self.status


def read_header(text: str) -> dict[str, object] | None:
    """The ``[tool.corral]`` table of a lock's text (parsed up to its first package)."""
    head = text.split(_HEADER_END, 1)[0]
    try:
        tool = tomllib.loads(head).get("tool")
    except tomllib.TOMLDecodeError:
        return None
    corral = tool.get("corral") if isinstance(tool, dict) else None
    return corral if isinstance(corral, dict) else None


def lock_state(request: EnvRequest, inputs: LockInputs) -> LockState:
    """The state of ``request``'s lock file given its current inputs (one small read)."""
    if not request.locked:
        return LockState("none")
    path = pylock_path(request)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return LockState("missing", path)
    except OSError:
        return LockState("stale", path)
    header = read_header(data.decode("utf-8", errors="replace"))
    digest = hashlib.sha256(data).hexdigest()
    if header is None or header.get("inputs") != inputs.digest():
        return LockState("stale", path, digest)
    return LockState("fresh", path, digest)


def _package_blocks(text: str) -> tuple[str, list[str]]:
    """(everything before the first ``[[packages]]``, each package's block)."""
    head, sep, rest = text.partition("[[packages]]\n")
    if not sep:
        return text, []
    return head, [block for block in rest.split("\n[[packages]]\n")]


def finish_lock(text: str, request: EnvRequest, inputs: LockInputs) -> str:
    """uv's lock ``text`` made Corral's: a header comment, Corral's own packages removed,
    the ``[tool.corral]`` table before the packages. Raises ``ValueError`` if the result
    does not parse or still names one of Corral's packages."""
    head, blocks = _package_blocks(text)
    own = set(inputs.corral_packages)
    kept = [b for b in blocks if _block_name(b) not in own]
    table = (
        "[tool.corral]\n"
        f"env = {json.dumps(request.name)}\n"
        f"inputs = {json.dumps(inputs.digest())}\n"
        f"python = {json.dumps(inputs.python)}\n"
        f"requirements = {json.dumps(list(inputs.requirements))}\n"
    )
    comment = (
        f"# The locked packages of Corral environment {request.name!r} of this project.\n"
        "# Commit this file: `corral prepare-envs` installs exactly these versions and\n"
        "# `corral lock [--upgrade]` updates it. Corral's own packages are not listed: they\n"
        "# come from the Corral installation. Resolved by uv; do not edit by hand.\n"
    )
    body = "".join(f"\n[[packages]]\n{block.rstrip()}\n" for block in kept)
    result = f"{comment}{head.rstrip()}\n\n{table}{body}"
    try:
        parsed = tomllib.loads(result)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"the resolved lock does not parse once finished: {exc}") from exc
    names = {p.get("name") for p in parsed.get("packages", []) if isinstance(p, dict)}
    if names & own or len(names) != len(kept):
        raise ValueError("the resolved lock does not have the expected [[packages]] layout")
    return result


def _block_name(block: str) -> str | None:
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "name":
            try:
                name = json.loads(value.strip())
            except ValueError:
                return None
            return name if isinstance(name, str) else None
    return None


def locked_versions(text: str) -> dict[str, str]:
    """``name -> version`` of a lock's packages (``"path"`` for unversioned directories);
    empty if the text does not parse."""
    try:
        packages = tomllib.loads(text).get("packages", [])
    except tomllib.TOMLDecodeError:
        return {}
    found = {}
    for package in packages if isinstance(packages, list) else []:
        if isinstance(package, dict) and isinstance(package.get("name"), str):
            found[package["name"]] = str(package.get("version", "path"))
    return found
