"""The expected-failures baseline (``--expected-failures FILE``).

A baseline lists case ids a runner is known to fail, so that a runner can adopt the suite
before it passes everything and still catch regressions. Formats:

* JSON: a list of ids, or an object ``{"<case id>": "<reason>", ...}``;
* text: one id per line; ``#`` starts a comment; blank lines are ignored.

Rules (as in the MCP conformance suite): a listed case that fails is ``xfail`` (the run can
still succeed); a listed case that *passes* is ``stale`` and fails the run, so the baseline
shrinks as the runner improves; a listed id that names no case is stale too (renamed or
deleted case). Skips and harness errors are left as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .outcome import CaseResult, Status

__all__ = ["Baseline", "load_baseline"]


@dataclass(frozen=True, slots=True)
class Baseline:
    """Case id -> reason (empty string when the file gives none)."""

    entries: dict[str, str]

    def classify(self, result: CaseResult) -> CaseResult:
        """Rewrite one result's status per the module rules (in place; returned)."""
        reason = self.entries.get(result.case_id)
        if reason is not None and result.status is Status.FAIL:
            result.status = Status.XFAIL
            result.detail = f"expected failure: {reason}" if reason else "expected failure"
        elif reason is not None and result.status is Status.PASS:
            result.status = Status.STALE
            result.message = "stale baseline: listed as an expected failure but passes"
            result.detail = reason
        return result

    def unknown(self, known_ids: set[str]) -> list[CaseResult]:
        """Stale results for listed ids that name no case.

        ``known_ids`` are the ids of every case that exists (not only the selected ones):
        a baseline entry for an existing case that was not selected is left alone.
        """
        return [
            CaseResult(
                case_id,
                Status.STALE,
                message="stale baseline: no case has this id (renamed or removed?)",
            )
            for case_id in sorted(set(self.entries) - known_ids)
        ]


def load_baseline(path: Path) -> Baseline:
    """Read a baseline file (JSON or text). Raises ValueError on a malformed file."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        data = json.loads(text)
        if isinstance(data, list) and all(isinstance(i, str) for i in data):
            return Baseline(dict.fromkeys(data, ""))
        if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            return Baseline(dict(data))
        raise ValueError("a JSON baseline is a list of case ids or an object id -> reason")
    entries = {}
    for line in text.splitlines():
        content = line.split("#", 1)[0].strip()
        if content:
            entries[content] = ""
    return Baseline(entries)
