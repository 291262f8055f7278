"""Wheels of Corral's own packages, made once per preparer and package identity.

An installed package is repacked from its files (:func:`corral.envs.own.repack`); a
development checkout is built with ``uv build``. Wheels live in a private temporary
directory, removed by :meth:`OwnWheels.close` (or at garbage collection / exit), and are
installed from there by path: N environments cost one build, not N.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from corral.envs.errors import EnvPrepareError, what
from corral.envs.own import OwnPackage, OwnPackageError, repack
from corral.envs.request import EnvRequest
from corral.envs.uvtool import CommandResult, UvTool

__all__ = ["OwnWheels", "RunUv"]

RunUv = Callable[[EnvRequest, str, list[str]], Awaitable[CommandResult]]
"""Runs a uv command for a request (``step`` names it in errors); raises
:class:`~corral.envs.errors.EnvPrepareError` when it fails."""


class OwnWheels:
    """The wheel files of Corral's packages (see the module doc)."""

    def __init__(self, uv: UvTool, run: RunUv) -> None:
        self._uv = uv
        self._run = run
        self._wheels: dict[str, Path] = {}
        self._root: Path | None = None
        self._finalizer: weakref.finalize[[str, bool], OwnWheels] | None = None
        self._lock: asyncio.Lock | None = None

    def close(self) -> None:
        """Delete the wheels made so far (they are made again when needed)."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._root = None
        self._wheels.clear()

    async def wheels(
        self,
        request: EnvRequest,
        packages: Sequence[OwnPackage],
        *,
        interpreter: Path,
        errors: dict[str, str],
    ) -> list[Path]:
        """The wheels of ``packages`` (made in parallel if missing). ``errors`` remembers
        failures by package name (pass one dict per preparation: a failed build is not
        retried for every env)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            for package in packages:
                if package.name in errors:
                    raise EnvPrepareError(f"{what(request)}: {errors[package.name]}")
            wanted = {p.name: p.identity() for p in packages}
            todo = [
                p
                for p in packages
                if (w := self._wheels.get(wanted[p.name])) is None or not w.is_file()
            ]
            results = await asyncio.gather(
                *(self._make(request, p, interpreter) for p in todo), return_exceptions=True
            )
            for package, outcome in zip(todo, results, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, Exception):
                        raise outcome
                    errors[package.name] = (
                        f"making a wheel of {package.describe()} failed:\n{outcome}"
                    )
                    raise EnvPrepareError(f"{what(request)}: {errors[package.name]}") from outcome
                self._wheels[wanted[package.name]] = outcome
        return [self._wheels[wanted[p.name]] for p in packages]

    def _directory(self) -> Path:
        if self._root is None:
            root = Path(tempfile.mkdtemp(prefix="corral-wheels-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(root), True)
            self._root = root
        return Path(tempfile.mkdtemp(dir=self._root))

    async def _make(self, request: EnvRequest, package: OwnPackage, interpreter: Path) -> Path:
        """Repack an installed package, or build a checkout with ``uv build``."""
        out = self._directory()
        if package.origin == "installed":
            try:
                return await asyncio.to_thread(repack, package, out)
            except OwnPackageError as exc:
                raise EnvPrepareError(str(exc)) from exc
        argv = self._uv.argv(
            "build",
            "--wheel",
            "--no-create-gitignore",
            "--python",
            str(interpreter),
            "--out-dir",
            str(out),
            str(package.location),
        )
        await self._run(request, f"building a wheel of {package.location}", argv)
        found = sorted(out.glob("*.whl"))
        if len(found) != 1:
            raise EnvPrepareError(f"building {package.location} produced {len(found)} wheels")
        return found[0]
