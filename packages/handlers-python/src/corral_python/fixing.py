"""What a fix run changed and fixed, told from the diagnostics before and after it.

ruff's JSON output in fix mode lists only the findings that *remain*; how many it fixed is
printed only in its human-readable summary, which is never scraped here. So ``lint`` with
``fix`` compares:

* **changed files**: the SHA-256 of every file that had an applicable fix, taken before the
  fix run and again after it (:class:`FixCandidates`); only those files can be rewritten;
* **fixed findings**: the findings with an applicable fix before the run that are no longer
  reported after it, matched by ``(file, code, message)`` — never by position, which a fix
  earlier in the file shifts (:func:`count_fixed`). A finding that a fix made appear and a
  later fix pass removed again was never reported, so it is not counted: the count is the
  number of reported findings the fixes resolved.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from corral_protocol.results import Diagnostic, Fix

__all__ = ["FixCandidates", "count_fixed", "has_applicable_fix"]


def has_applicable_fix(diagnostic: Diagnostic, applicable: Collection[str]) -> bool:
    """Whether ``diagnostic`` carries a fix whose applicability is in ``applicable``."""
    return isinstance(diagnostic.fix, Fix) and diagnostic.fix.applicability in applicable


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class FixCandidates:
    """The files a fix run may rewrite, with their digests before it."""

    project: Path
    digests: dict[str, str | None]
    """Diagnostic file name (project-relative, or absolute) -> SHA-256 (None: unreadable)."""

    @classmethod
    def take(
        cls, project: Path, diagnostics: Iterable[Diagnostic], applicable: Collection[str]
    ) -> FixCandidates:
        files = sorted({d.file for d in diagnostics if has_applicable_fix(d, applicable)})
        return cls(project, {file: _digest(project / file) for file in files})

    def __bool__(self) -> bool:
        return bool(self.digests)

    def changed(self) -> list[str]:
        """The candidate files whose bytes differ now (sorted)."""
        return [f for f, digest in self.digests.items() if _digest(self.project / f) != digest]


def count_fixed(
    before: Iterable[Diagnostic], after: Iterable[Diagnostic], applicable: Collection[str]
) -> int:
    """How many findings with an applicable fix in ``before`` are gone from ``after``."""

    def key(d: Diagnostic) -> tuple[str, str | None, str]:
        return d.file, d.code, d.message

    fixable = Counter(key(d) for d in before if has_applicable_fix(d, applicable))
    remaining = Counter(key(d) for d in after)
    return sum((fixable - remaining).values())
