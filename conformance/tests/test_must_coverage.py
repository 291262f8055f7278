"""The MUST-coverage table of the conformance README (section 9) is complete and true:
every section of SPEC.md Part I that states a MUST has a row; every row names cases that
exist, or says why the suite cannot check that section; every case a row names cites the
section (or one below it) in its ``rule`` or ``description``, unless the row says why."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packages" / "protocol-spec" / "SPEC.md"
README = ROOT / "conformance" / "README.md"
CASES = ROOT / "conformance" / "cases"
ROW = re.compile(r"^\| §(\d+(?:\.\d+)*) [^|]*\| (\d+) \| ([^|]*) \| ([^|]*) \|$")


def must_sections() -> dict[str, int]:
    part_one = SPEC.read_text().split("\n# Part II")[0]
    section, found = None, {}
    for line in part_one.splitlines():
        heading = re.match(r"^#{2,3} (\d+(?:\.\d+)*)\.? ", line)
        if heading:
            section = heading.group(1)
        if "MUST" in line and section is not None:
            found[section] = found.get(section, 0) + line.count("MUST")
    return found


def table() -> dict[str, tuple[int, list[str], str]]:
    text = README.read_text().split("## 9. What the suite checks", 1)[1]
    rows = {}
    for line in text.splitlines():
        row = ROW.match(line)
        if row:
            cases = re.findall(r"`([^`]+)`", row.group(3))
            rows[row.group(1)] = (int(row.group(2)), cases, row.group(4).strip())
    return rows


def test_every_section_with_a_must_has_a_row_and_the_counts_are_current() -> None:
    musts = must_sections()
    rows = table()
    assert len(musts) > 30  # the extraction itself works
    assert set(rows) == set(musts), (set(musts) - set(rows), set(rows) - set(musts))
    assert {s: rows[s][0] for s in rows} == musts


def test_every_row_names_existing_cases_or_says_why_not() -> None:
    for section, (_, cases, note) in table().items():
        assert cases or note, f"§{section}: no case and no reason"
        for case in cases:
            assert (CASES / f"{case}.json").is_file(), f"§{section}: no case {case}"


def test_a_named_case_cites_its_section_unless_the_row_explains() -> None:
    for section, (_, cases, note) in table().items():
        for case in cases:
            data = json.loads((CASES / f"{case}.json").read_text())
            cited = re.findall(
                r"§(\d+(?:\.\d+)*)", f"{data.get('rule', '')} {data.get('description', '')}"
            )
            if not any(c == section or c.startswith(f"{section}.") for c in cited):
                assert note, f"§{section}: {case} cites {cited}, and the row does not say why"
