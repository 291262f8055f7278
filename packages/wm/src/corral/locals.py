"""Packages of the Corral checkout the WM runs from, installed into envs from their source.

When the WM runs from a development checkout (this repository), environment dependencies
that name one of its packages (``corral-python``, ``corral-runner``...) are installed from
the checkout instead of a registry, so an env always matches the code next to the WM. An
installed WM (from a wheel) has no checkout: requirements are left as they are.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

__all__ = ["checkout_packages", "localize"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def checkout_packages() -> dict[str, Path]:
    """Distribution name (canonical) -> source directory, for the checkout we run from."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        packages = parent / "packages"
        if (parent / "pyproject.toml").is_file() and (packages / "wm" / "pyproject.toml").is_file():
            found: dict[str, Path] = {}
            for manifest in sorted(packages.glob("*/pyproject.toml")):
                try:
                    name = tomllib.loads(manifest.read_text())["project"]["name"]
                except (OSError, KeyError, tomllib.TOMLDecodeError):
                    continue
                found[_canonical(name)] = manifest.parent
            return found
    return {}


def localize(requirement: str) -> str:
    """``requirement``, or the checkout path of the package it names (extras kept)."""
    match = _NAME.match(requirement)
    if match is None:
        return requirement
    path = checkout_packages().get(_canonical(match.group(1)))
    if path is None:
        return requirement
    return f"{path}{match.group(2) or ''}"
