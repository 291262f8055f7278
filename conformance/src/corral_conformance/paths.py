"""Where the shipped case files and the case-format schema live.

A built wheel carries them inside the package (``corral_conformance/_cases`` and
``corral_conformance/case.schema.json``); a source checkout or editable install uses
``conformance/cases`` and ``conformance/case.schema.json`` of the repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["case_schema_path", "cases_dir"]

_HERE = Path(__file__).parent


def cases_dir() -> Path:
    """The directory of the shipped cases (``<area>/<name>.json`` below it)."""
    packaged = _HERE / "_cases"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "cases"


def case_schema_path() -> Path:
    """The JSON Schema of the case format."""
    packaged = _HERE / "case.schema.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "case.schema.json"
