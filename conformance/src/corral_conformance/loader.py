"""Finding, validating and selecting case files.

A case's id is its path below the cases directory without ``.json``, with ``/``
separators (``framing/one-byte-per-write``); the first path component is its *area*.
Loading never raises for a bad case file: the :class:`LoadedCase` carries the error and the
run reports that case as a harness error.

Checks, in order: JSON syntax, ``case.schema.json``, the typed model, then static lint
rules a schema cannot express (a ``signal`` step needs ``requires: ["posixSignals"]``,
``killParent`` needs a ``viaParent`` launch of that process, ``expectUnordered`` has
``patterns`` and/or ``forEach`` + ``pattern``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from .model import Case, ExpectUnordered, KillParent, Launch, Repeat, Signal, Step, decode_case
from .paths import case_schema_path

__all__ = ["CaseLoader", "LoadedCase", "iter_steps", "lint_case"]


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A case file: its id and path, and either the decoded case or why it is unusable."""

    id: str
    path: Path
    case: Case | None
    error: str | None = None

    @property
    def area(self) -> str:
        """The first component of the id."""
        return self.id.split("/", 1)[0]


def iter_steps(steps: Iterable[Step]) -> Iterator[Step]:
    """Every step, depth first, including those nested in ``repeat``."""
    for step in steps:
        yield step
        if isinstance(step, Repeat):
            yield from iter_steps(step.steps)


def lint_case(case: Case) -> list[str]:
    """Static rules a case must follow beyond its schema."""
    problems = []
    steps = list(iter_steps(case.steps))
    if any(isinstance(s, Signal) for s in steps) and "posixSignals" not in case.requires:
        problems.append('a case with a signal step must list "posixSignals" in requires')
    parents = {s.process for s in steps if isinstance(s, Launch) and s.via_parent}
    for step in steps:
        if isinstance(step, KillParent) and step.process not in parents:
            problems.append(f"killParent of {step.process!r} needs a launch with viaParent")
        if isinstance(step, ExpectUnordered):
            if (step.for_each is None) != (step.pattern is None):
                problems.append("expectUnordered: forEach and pattern go together")
            if step.patterns is None and step.for_each is None:
                problems.append("expectUnordered needs patterns, or forEach + pattern")
    if not any(isinstance(s, Launch) for s in steps):
        problems.append("a case must launch a runner")
    return problems


class CaseLoader:
    """Loads the cases of one directory against the case-format schema."""

    def __init__(self, root: Path, schema_path: Path | None = None) -> None:
        self.root = root
        self._schema_path = schema_path or case_schema_path()

    @cached_property
    def validator(self) -> Draft202012Validator:
        """The compiled case-format schema."""
        schema = json.loads(self._schema_path.read_text(encoding="utf-8"))
        return Draft202012Validator(schema)

    def case_id(self, path: Path) -> str:
        """The id of the case file ``path``."""
        return path.relative_to(self.root).with_suffix("").as_posix()

    def paths(self) -> list[Path]:
        """Every case file, sorted by id."""
        return sorted(self.root.rglob("*.json"), key=self.case_id)

    def load(self, path: Path) -> LoadedCase:
        """Load one case file (never raises for a bad file)."""
        case_id = self.case_id(path)
        try:
            data = path.read_bytes()
            document: Any = json.loads(data)
        except (OSError, ValueError) as exc:
            return LoadedCase(case_id, path, None, f"unreadable case file: {exc}")
        error = best_match(self.validator.iter_errors(document))
        if error is not None:
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
            return LoadedCase(
                case_id, path, None, f"case.schema.json rejects {where}: {error.message}"
            )
        try:
            case = decode_case(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return LoadedCase(case_id, path, None, f"case model rejects the file: {exc}")
        problems = lint_case(case)
        if problems:
            return LoadedCase(case_id, path, case, "; ".join(problems))
        return LoadedCase(case_id, path, case)

    def select(self, patterns: Iterable[str] = ()) -> list[LoadedCase]:
        """Load the cases whose id matches any glob of ``patterns`` (all if none)."""
        globs = list(patterns)
        chosen = []
        for path in self.paths():
            case_id = self.case_id(path)
            if globs and not any(fnmatch.fnmatchcase(case_id, g) for g in globs):
                continue
            chosen.append(self.load(path))
        return chosen
