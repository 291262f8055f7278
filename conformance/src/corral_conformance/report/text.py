"""Human-readable output: one line per case as it finishes, then the details that matter.

Runner failures, harness errors and stale baseline entries are printed in separate
sections, so a runner author never mistakes a broken case or driver for a runner bug.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from ..outcome import CaseResult, Status
from ..suite import counts

__all__ = ["case_line", "failure_block", "summary_text"]

_LABELS: Mapping[Status, str] = MappingProxyType(
    {
        Status.PASS: "PASS ",
        Status.FAIL: "FAIL ",
        Status.SKIP: "SKIP ",
        Status.HARNESS_ERROR: "ERROR",
        Status.XFAIL: "XFAIL",
        Status.STALE: "STALE",
    }
)


def case_line(result: CaseResult) -> str:
    """``PASS  area/name  (0.21 s)`` plus the skip reason or the short failure message."""
    line = f"{_LABELS[result.status]} {result.case_id}  ({result.duration_s:.2f} s)"
    if result.status is not Status.PASS and result.message:
        line += f"  - {result.message.splitlines()[0][:160]}"
    return line


def _indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def failure_block(result: CaseResult, *, stderr_lines: int = 15) -> str:
    """The full explanation of a failed, errored or stale case."""
    where = f"  (step {result.step}: {result.step_kind})" if result.step else ""
    lines = [f"{_LABELS[result.status]} {result.case_id}{where}", f"  {result.message}"]
    if result.rule and result.status is Status.FAIL:
        lines.append(f"  rule:     {result.rule}")
    if result.expected is not None:
        lines.append(f"  expected: {result.expected}")
    if result.got is not None:
        lines.append(f"  got:      {result.got}")
    if result.detail:
        lines.append(_indent(result.detail, "  "))
    if result.stderr_tail.strip():
        tail = "\n".join(result.stderr_tail.rstrip().splitlines()[-stderr_lines:])
        lines.append("  runner stderr (tail):")
        lines.append(_indent(tail))
    return "\n".join(lines)


def summary_text(results: Sequence[CaseResult], duration_s: float) -> str:
    """Detail sections (failures, harness errors, stale, skips) and the summary line."""
    sections = []
    groups = [
        (Status.FAIL, "Runner failures (the runner broke a rule)"),
        (Status.STALE, "Stale baseline entries (listed as expected failures, but pass)"),
        (Status.HARNESS_ERROR, "Harness errors (the driver or a case file is at fault)"),
    ]
    for status, title in groups:
        chosen = [r for r in results if r.status is status]
        if chosen:
            body = "\n\n".join(failure_block(r) for r in chosen)
            sections.append(f"== {title}: {len(chosen)}\n{body}")
    skipped = [r for r in results if r.status is Status.SKIP]
    if skipped:
        body = "\n".join(f"  {r.case_id}: {r.message}" for r in skipped)
        sections.append(f"== Skipped: {len(skipped)}\n{body}")
    xfailed = [r for r in results if r.status is Status.XFAIL]
    if xfailed:
        body = "\n".join(f"  {r.case_id}: {r.message}" for r in xfailed)
        sections.append(f"== Expected failures: {len(xfailed)}\n{body}")
    tally = counts(results)
    summary = (
        f"{tally['pass']} passed, {tally['fail']} failed, {tally['skip']} skipped, "
        f"{tally['harness-error']} harness errors, {tally['xfail']} expected failures, "
        f"{tally['stale']} stale - {len(results)} cases in {duration_s:.1f} s"
    )
    return "\n\n".join([*sections, summary])
