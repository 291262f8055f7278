"""Corral's own packages, installed into environments from the Corral installation itself.

Every Python environment gets ``corral-runner`` and the packages of Corral it depends on
(``corral-protocol``, ``corral-wal``); an environment whose dependencies name one of
Corral's own distributions (:data:`OWN_DISTRIBUTIONS`, e.g. ``corral-python`` for the preset
of that name) gets that one, with its own dependencies, too. None of them is ever looked
up by name in a package index: a package of that name on an index (an older release, or
someone else's upload) can never end up in an environment. They come from the
distributions installed beside the running Workspace Manager (``corral`` depends on
``corral-runner``, so the runner and what it needs are always there; ``corral-python`` is
there when it was installed with corral):

- **installed** from a wheel (pip, uv, pipx, ``uv tool``): the files its ``RECORD`` lists
  are packed back into a wheel (:func:`repack`), each checked against RECORD's sha256
  first. That wheel holds exactly the files of the wheel it was installed from, minus what
  installers add (``RECORD``, ``INSTALLER``, ``REQUESTED``, ``direct_url.json``, console
  script launchers, bytecode), which installing it writes again;
- **checkout**: installed editable from a source directory (this repository's development
  workspace, where ``direct_url.json`` names the directory): the checkout is built into a
  wheel with ``uv build``, so environments always run the code next to the WM.

Each package's :meth:`OwnPackage.identity` (``name==version`` plus the sha256 of its
RECORD, or a fingerprint of the checkout's source files) is part of an environment's
stamp: upgrading corral, or editing a checkout, makes the environments that hold the
package stale.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import re
import sys
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final, Literal
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from corral.envs.paths import absolute
from corral.envs.request import EnvRequest
from corral.envs.source import source_fingerprint

__all__ = [
    "OWN_DISTRIBUTIONS",
    "RUNNER",
    "OwnPackage",
    "OwnPackageError",
    "OwnPackages",
    "canonical_name",
    "repack",
    "requirement_name",
]

RUNNER: Final = "corral-runner"
OWN_DISTRIBUTIONS: Final = ("corral-runner", "corral-protocol", "corral-wal", "corral-python")
"""Canonical names of the distributions that only ever come from the Corral installation."""

# What installers add to a .dist-info directory (never part of a wheel, or rewritten by
# the installer: RECORD).
_INSTALLER_FILES = frozenset(
    {
        "RECORD",
        "RECORD.jws",
        "RECORD.p7s",
        "INSTALLER",
        "REQUESTED",
        "direct_url.json",
        "uv_cache.json",
        "uv_build.json",
    }
)
_WHEEL_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest time: repacked wheels are reproducible
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?(.*)$")


class OwnPackageError(Exception):
    """One of Corral's own packages cannot be provided (missing, or its files modified)."""


def canonical_name(name: str) -> str:
    """The PEP 503 normalised name (``Corral_Python`` → ``corral-python``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str | None:
    """The canonical distribution name a PEP 508 requirement asks for by name, else None.

    None for paths (``./x``, ``tools/plugin``, ``x.whl``), URLs and direct references
    (``name @ url``: the user chose that source explicitly).
    """
    match = _REQUIREMENT.match(requirement)
    if match is None:
        return None
    rest = match.group(3).lstrip()
    if rest and rest[0] not in "<>=!~;(":
        return None
    return canonical_name(match.group(1))


def _parse_metadata(text: str) -> tuple[str, str, tuple[str, ...]]:
    """(Name, Version, Requires-Dist values) from core metadata headers."""
    name = version = ""
    requires: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first empty line; the description follows
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "name":
            name = value
        elif key == "version":
            version = value
        elif key == "requires-dist":
            requires.append(value)
    return name, version, tuple(requires)


def _is_extra_only(requirement: str) -> bool:
    """Whether a Requires-Dist applies only with an extra (never installed for ours)."""
    _, _, marker = requirement.partition(";")
    return "extra" in marker


@dataclass(frozen=True)
class OwnPackage:
    """One of Corral's own distributions, as the WM can install it into an environment.

    ``name`` is canonical; ``location`` is the ``.dist-info`` directory (``installed``) or
    the source checkout (``checkout``); ``requires`` are its Requires-Dist strings.
    """

    name: str
    version: str
    origin: Literal["installed", "checkout"]
    location: Path
    requires: tuple[str, ...] = ()

    @classmethod
    def checkout(cls, path: Path) -> OwnPackage:
        """A source checkout (a directory with a ``pyproject.toml`` whose ``[project]``
        gives a static name and version). Raises ``ValueError`` otherwise."""
        path = absolute(Path(path))
        try:
            project = tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))[
                "project"
            ]
            name, version = project["name"], project["version"]
            dependencies = project.get("dependencies", [])
        except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(
                f"{path} is not a Python project with a static [project] name and version "
                f"({type(exc).__name__}: {exc})"
            ) from None
        return cls(canonical_name(name), str(version), "checkout", path, tuple(dependencies))

    @classmethod
    def from_distribution(cls, dist: importlib.metadata.Distribution) -> OwnPackage:
        """An installed distribution: a checkout if it was installed editable from a local
        directory, else its installed files (``installed``)."""
        name, version, requires = _parse_metadata(dist.read_text("METADATA") or "")
        checkout = _editable_directory(dist.read_text("direct_url.json"))
        if checkout is not None:
            return cls(canonical_name(name), version, "checkout", checkout, requires)
        return cls(canonical_name(name), version, "installed", _dist_info_dir(dist), requires)

    @property
    def own_requires(self) -> tuple[str, ...]:
        """Canonical names of Corral's own distributions this one depends on."""
        names = (requirement_name(r) for r in self.requires if not _is_extra_only(r))
        return tuple(n for n in names if n in OWN_DISTRIBUTIONS)

    @property
    def third_party_requires(self) -> tuple[str, ...]:
        """Its other requirements (e.g. ``msgspec>=0.18``), as written in its metadata."""
        return tuple(
            r
            for r in self.requires
            if not _is_extra_only(r) and requirement_name(r) not in OWN_DISTRIBUTIONS
        )

    def identity(self, fingerprint: Callable[[Path], str] = source_fingerprint) -> str:
        """``name==version`` and what makes these files these files (see the module doc)."""
        if self.origin == "checkout":
            where = f"{self.location} {fingerprint(self.location)}"
            return f"{self.name}=={self.version} checkout {where}"
        try:
            record = (self.location / "RECORD").read_bytes()
        except OSError:
            return f"{self.name}=={self.version} installed (unreadable RECORD)"
        return f"{self.name}=={self.version} installed {hashlib.sha256(record).hexdigest()}"

    def describe(self) -> str:
        """``corral-runner 0.1.0 (installed at ...)`` / ``(checkout ...)``."""
        where = self.location.parent if self.origin == "installed" else self.location
        return f"{self.name} {self.version} ({self.origin} at {where})"


def _editable_directory(direct_url: str | None) -> Path | None:
    """The local directory of an editable install's ``direct_url.json``, else None."""
    if not direct_url:
        return None
    try:
        data = json.loads(direct_url)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    dir_info, url = data.get("dir_info"), data.get("url")
    if not isinstance(dir_info, dict) or not dir_info.get("editable") or not isinstance(url, str):
        return None
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = Path(url2pathname(unquote(parsed.path)))
    return path if (path / "pyproject.toml").is_file() else None


def _dist_info_dir(dist: importlib.metadata.Distribution) -> Path:
    """The ``.dist-info`` directory of an installed distribution."""
    for file in dist.files or ():
        if file.parts[-1] == "METADATA" and file.parts[-2].endswith(".dist-info"):
            return Path(str(dist.locate_file(file))).parent
    raise OwnPackageError(f"{dist.metadata['Name']}: its RECORD does not list its METADATA")


class OwnPackages:
    """The own packages the WM can install, by canonical name (see the module doc)."""

    def __init__(self, packages: Iterable[OwnPackage] = ()) -> None:
        self._packages = {p.name: p for p in packages}

    @classmethod
    def detect(cls) -> OwnPackages:
        """Corral's own distributions installed beside the running WM (a few ms)."""
        found = []
        for name in OWN_DISTRIBUTIONS:
            try:
                dist = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            found.append(OwnPackage.from_distribution(dist))
        return cls(found)

    @classmethod
    def checkouts(cls, paths: Iterable[Path]) -> OwnPackages:
        """Source checkouts (see :meth:`OwnPackage.checkout`)."""
        return cls(OwnPackage.checkout(path) for path in paths)

    def get(self, name: str) -> OwnPackage | None:
        return self._packages.get(canonical_name(name))

    def __iter__(self) -> Iterator[OwnPackage]:
        return iter(self._packages.values())

    def needed(self, request: EnvRequest) -> tuple[str, ...]:
        """Canonical names of the own packages ``request`` gets, sorted: corral-runner for a
        Python env, every own distribution its dependencies name, and (transitively) the
        own distributions those depend on. Names that are not available are included
        (:meth:`missing` lists them)."""
        pending = [RUNNER] if request.is_python else []
        pending += [
            name
            for dependency in request.dependencies
            if (name := requirement_name(dependency)) in OWN_DISTRIBUTIONS
        ]
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            package = self._packages.get(name)
            if package is not None:
                pending.extend(package.own_requires)
        return tuple(sorted(seen))

    def missing(self, names: Iterable[str]) -> list[str]:
        """The ``names`` this installation cannot provide."""
        return [name for name in names if name not in self._packages]

    def identity(
        self, names: Iterable[str], fingerprint: Callable[[Path], str] = source_fingerprint
    ) -> str:
        """What installing ``names`` would install (``"none"`` for no names); changes
        whenever any of their files would."""
        parts = []
        for name in names:
            package = self._packages.get(name)
            parts.append(f"{name} missing" if package is None else package.identity(fingerprint))
        return "; ".join(parts) or "none"

    def third_party_requires(self, names: Iterable[str]) -> tuple[str, ...]:
        """The Requires-Dist of ``names`` that are not Corral's own, de-duplicated."""
        found = (r for n in names if (p := self._packages.get(n)) for r in p.third_party_requires)
        return tuple(dict.fromkeys(found))


def missing_message(name: str) -> str:
    """Why an own package that is not installed beside corral cannot be installed, and
    the fix."""
    return (
        f"{name} is one of Corral's own packages, which environments only get from the "
        f"Corral installation ({sys.prefix}), never from a package index; it is not "
        f"installed there: install it beside corral (e.g. 'uv tool install corral "
        f"--with {name}', or 'pip install {name}' with {sys.executable})"
    )


# -- repacking an installed distribution -------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _wheel_tag(wheel_file: str) -> str:
    """The compressed tag set of a WHEEL file's ``Tag:`` lines (``py3-none-any``)."""
    parts: list[list[str]] = [[], [], []]
    for line in wheel_file.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() != "tag":
            continue
        pieces = value.strip().split("-")
        if len(pieces) != 3:
            continue
        for known, piece in zip(parts, pieces, strict=True):
            if piece not in known:
                known.append(piece)
    if not all(parts):
        raise OwnPackageError("its WHEEL file has no valid Tag line")
    return "-".join(".".join(known) for known in parts)


def _included(path: PurePosixPath, dist_info: str) -> bool:
    """Whether an installed file (RECORD path) belongs in the repacked wheel."""
    if path.is_absolute() or ".." in path.parts:
        return False  # console scripts and other files outside site-packages
    if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
        return False
    in_dist_info = len(path.parts) == 2 and path.parts[0] == dist_info
    return not (in_dist_info and path.name in _INSTALLER_FILES)


def repack(package: OwnPackage, out_dir: Path) -> Path:
    """Pack an ``installed`` package's files back into a wheel in ``out_dir``; return it.

    Every file comes from RECORD and must match RECORD's sha256 (else
    :class:`OwnPackageError`: the installation was modified). The wheel is reproducible
    (sorted entries, fixed times), its RECORD written anew, its name from the installed
    WHEEL's tags.
    """
    if package.origin != "installed":
        raise ValueError(f"{package.describe()} is not an installed distribution")
    dist_info = package.location
    site = dist_info.parent
    try:
        with (dist_info / "RECORD").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        tag = _wheel_tag((dist_info / "WHEEL").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, csv.Error, OwnPackageError) as exc:
        raise OwnPackageError(f"{package.describe()}: cannot read its installation: {exc}") from exc
    files: list[tuple[str, bytes]] = []
    for row in rows:
        if not row or not row[0]:
            continue
        path = PurePosixPath(row[0])
        if not _included(path, dist_info.name):
            continue
        try:
            data = (site / path).read_bytes()
        except OSError as exc:
            raise OwnPackageError(
                f"{package.describe()}: {path} is missing ({exc}); reinstall corral"
            ) from exc
        expected = row[1] if len(row) > 1 else ""
        if expected and expected.startswith("sha256=") and _record_hash(data) != expected:
            raise OwnPackageError(
                f"{package.describe()}: {path} differs from the hash in its RECORD (the "
                "installation was modified); reinstall corral"
            )
        files.append((path.as_posix(), data))
    meta_prefix = dist_info.name + "/"
    files.sort(key=lambda item: (item[0].startswith(meta_prefix), item[0]))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in files:
        writer.writerow([name, _record_hash(data), len(data)])
    writer.writerow([meta_prefix + "RECORD", "", ""])
    files.append((meta_prefix + "RECORD", record.getvalue().encode()))
    distribution = dist_info.name.removesuffix(".dist-info")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{distribution}-{tag}.whl"
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_WHEEL_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
    os.replace(partial, target)
    with contextlib.suppress(OSError):
        os.chmod(target, 0o644)
    return target
