"""``corral mcp``'s pure parts: schemas, argument errors, paging, paths."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import msgspec
import pytest
from corral.mcp.results import RunPages, page, relative
from corral.mcp.tools import (
    TOOLS,
    ArgumentError,
    FileDiff,
    Finding,
    LintArgs,
    RunActionArgs,
    RunOutput,
    parse_arguments,
)


@pytest.mark.parametrize("spec", TOOLS, ids=lambda s: s.name)
def test_every_schema_is_an_object_schema_that_validates_its_own_type(spec: object) -> None:
    for schema in (spec.input_schema(), spec.output_schema()):  # type: ignore[attr-defined]
        assert schema["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(schema)


def test_arguments_are_checked_and_the_error_names_the_argument() -> None:
    assert parse_arguments(LintArgs, None) == LintArgs()
    assert parse_arguments(LintArgs, {"paths": ["a.py"], "limit": 3}).limit == 3
    with pytest.raises(ArgumentError, match=r"\$\.limit"):
        parse_arguments(LintArgs, {"limit": 0})
    with pytest.raises(ArgumentError, match="unknown field `colour`"):
        parse_arguments(LintArgs, {"colour": "red"})
    with pytest.raises(ArgumentError, match="`action`"):
        parse_arguments(RunActionArgs, {})
    with pytest.raises(ArgumentError, match=r"\$\.paths"):
        parse_arguments(LintArgs, {"paths": []})


def _whole(findings: int, files: int) -> RunOutput:
    found = [
        Finding(
            file=f"f{i}.py",
            line=1,
            column=1,
            end_line=1,
            end_column=2,
            code="F401",
            message="m",
            severity="error",
            source="ruff",
            fixable=True,
        )
        for i in range(findings)
    ]
    diffs = [FileDiff(file=f"d{i}.py", diff="-a\n+b\n") for i in range(files)]
    return RunOutput(
        run_id="r",
        action="lint",
        exit_code=1,
        summary="s",
        projects=[],
        skipped=[],
        findings=found,
        files=diffs,
        changed=[],
        total=findings + files,
        offset=0,
        next_offset=None,
    )


def test_pages_cover_findings_then_files_once_each() -> None:
    whole = _whole(5, 3)
    seen, offset = [], 0
    while True:
        shown = page(whole, offset, 3)
        seen += [f.file for f in shown.findings] + [d.file for d in shown.files]
        assert shown.total == 8
        if shown.next_offset is None:
            break
        offset = shown.next_offset
    assert seen == [f"f{i}.py" for i in range(5)] + [f"d{i}.py" for i in range(3)]
    assert page(whole, 0, 100).next_offset is None
    encoded = msgspec.json.decode(msgspec.json.encode(page(whole, 0, 2)))
    jsonschema.validate(encoded, TOOLS[1].output_schema())


def test_only_the_last_runs_are_kept() -> None:
    pages = RunPages(kept=2)
    for run in ("a", "b", "c"):
        pages.keep(msgspec.structs.replace(_whole(1, 0), run_id=run))
    assert pages.get("a") is None
    assert pages.get("c") is not None


def test_paths_are_relative_to_the_root_with_slashes(tmp_path: Path) -> None:
    assert relative(tmp_path, tmp_path / "app" / "x.py") == "app/x.py"
    outside = tmp_path.parent / "elsewhere.py"
    assert relative(tmp_path, outside) == str(outside)
