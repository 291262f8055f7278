"""The ``--junit`` report (JUnit XML, as CI systems display it).

One ``<testcase>`` per case (classname = the area, name = the case id). Runner failures and
stale baseline entries are ``<failure>``; harness errors are ``<error>`` (so CI shows them
apart); skips and expected failures are ``<skipped>``. The runner's stderr tail goes into
``<system-err>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..outcome import CaseResult, Status
from ..suite import counts

__all__ = ["junit_xml"]


def _text(result: CaseResult) -> str:
    lines = [result.message]
    if result.step:
        lines.append(f"step {result.step} ({result.step_kind})")
    if result.expected is not None:
        lines.append(f"expected: {result.expected}")
    if result.got is not None:
        lines.append(f"got:      {result.got}")
    if result.detail:
        lines.append(result.detail)
    return "\n".join(lines)


def junit_xml(results: Sequence[CaseResult], *, duration_s: float) -> str:
    """Render the results as a JUnit XML document."""
    tally = counts(results)
    suite = ET.Element(
        "testsuite",
        {
            "name": "corral-conformance",
            "tests": str(len(results)),
            "failures": str(tally["fail"] + tally["stale"]),
            "errors": str(tally["harness-error"]),
            "skipped": str(tally["skip"] + tally["xfail"]),
            "time": f"{duration_s:.3f}",
        },
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": result.case_id.split("/", 1)[0],
                "name": result.case_id,
                "time": f"{result.duration_s:.3f}",
            },
        )
        if result.status in (Status.FAIL, Status.STALE):
            kind = "RunnerFailure" if result.status is Status.FAIL else "StaleBaseline"
            node = ET.SubElement(case, "failure", {"message": result.message, "type": kind})
            node.text = _text(result)
        elif result.status is Status.HARNESS_ERROR:
            node = ET.SubElement(case, "error", {"message": result.message, "type": "HarnessError"})
            node.text = _text(result)
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": result.message})
        elif result.status is Status.XFAIL:
            ET.SubElement(case, "skipped", {"message": f"expected failure: {result.message}"})
        if result.stderr_tail and result.status is not Status.PASS:
            ET.SubElement(case, "system-err").text = result.stderr_tail
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
