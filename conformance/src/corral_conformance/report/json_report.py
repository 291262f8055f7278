"""The ``--json`` report: one document for machines (CI dashboards, other tools).

Shape (stable; new members may be added)::

    {"tool": "corral-conformance", "version": str, "runner": [argv...],
     "timeoutScale": float, "durationS": float, "exitCode": int,
     "summary": {"pass": n, "fail": n, "skip": n, "harness-error": n, "xfail": n, "stale": n},
     "cases": [{"id", "status", "durationMs", "message", "step", "stepKind", "expected",
                "got", "stderrTail", "detail", "transcript"?}]}

``transcript`` (the raw transcript) is included for every case that did not pass or skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..outcome import CaseResult, Status
from ..suite import counts, exit_code

__all__ = ["json_report"]


def _case(result: CaseResult) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": result.case_id,
        "status": result.status.value,
        "durationMs": round(result.duration_s * 1000, 1),
        "message": result.message,
        "step": result.step,
        "stepKind": result.step_kind,
        "expected": result.expected,
        "got": result.got,
        "stderrTail": result.stderr_tail,
        "detail": result.detail,
        "rule": result.rule,
    }
    if result.status not in (Status.PASS, Status.SKIP):
        entry["transcript"] = result.transcript
    return entry


def json_report(
    results: Sequence[CaseResult],
    *,
    runner_argv: Sequence[str],
    timeout_scale: float,
    duration_s: float,
) -> dict[str, Any]:
    """Build the report document (serialise it with ``json.dumps``)."""
    return {
        "tool": "corral-conformance",
        "version": __version__,
        "runner": list(runner_argv),
        "timeoutScale": timeout_scale,
        "durationS": round(duration_s, 3),
        "exitCode": exit_code(results),
        "summary": counts(results),
        "cases": [_case(r) for r in results],
    }
