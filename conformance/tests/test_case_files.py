"""Every shipped case file is valid, and the case format's schema is sound.

Checks: the schema is valid draft 2020-12 and its own examples validate; every case
validates against ``case.schema.json`` *and* the Python model (so the two cannot drift
apart on real cases) and passes the loader's lint; ids are paths; every case names at least
one known broken variant; the suite covers every area with several cases; malformed cases
are rejected by both the schema and the model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral_conformance.loader import CaseLoader
from corral_conformance.model import decode_case
from corral_conformance.paths import case_schema_path, cases_dir
from corral_conformance.testrunner.variants import VARIANTS
from jsonschema import Draft202012Validator

AREAS = (
    "hello",
    "auth",
    "framing",
    "jsonrpc",
    "lifecycle",
    "actions",
    "cancel",
    "progress",
    "output",
    "concurrency",
    "wal",
)
CASE_FILES = sorted(cases_dir().rglob("*.json"))


def _schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(case_schema_path().read_text(encoding="utf-8"))
    return document


def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def test_schema_is_valid_and_its_examples_validate() -> None:
    schema = _schema()
    Draft202012Validator.check_schema(schema)
    validator = _validator()
    for example in schema["examples"]:
        assert not list(validator.iter_errors(example))
    step_validator = Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/Step"})
    checked = 0
    for name, definition in schema["$defs"].items():
        if "step" not in definition.get("properties", {}):
            continue
        for example in definition.get("examples", []):
            errors = list(step_validator.iter_errors(example))
            assert not errors, f"{name} example {example}: {errors[0].message}"
            checked += 1
    assert checked >= 19  # at least one example per step kind


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.relative_to(cases_dir()).as_posix())
def test_case_file_is_valid(path: Path) -> None:
    errors = list(_validator().iter_errors(json.loads(path.read_bytes())))
    assert not errors, errors[0].message
    loaded = CaseLoader(cases_dir()).load(path)
    assert loaded.error is None, loaded.error
    assert loaded.case is not None
    assert loaded.case.must_fail_with, "every case names a variant that must fail it"
    unknown = set(loaded.case.must_fail_with) - VARIANTS.keys()
    assert not unknown, f"unknown variants {unknown}"
    assert loaded.area in AREAS


def test_suite_size_and_coverage() -> None:
    loaded = CaseLoader(cases_dir()).select()
    assert len(loaded) >= 60
    per_area = Counter(case.area for case in loaded)
    assert set(per_area) == set(AREAS)
    assert all(count >= 4 for count in per_area.values()), per_area


def test_every_variant_is_used_by_some_case() -> None:
    cases = [loaded.case for loaded in CaseLoader(cases_dir()).select() if loaded.case]
    used = {variant for case in cases for variant in case.must_fail_with}
    assert set(VARIANTS) - used == set()


_BAD_CASES: list[tuple[str, Any]] = [
    ("no steps", {"description": "x", "steps": []}),
    ("unknown step", {"description": "x", "steps": [{"step": "teleport"}]}),
    ("unknown member", {"description": "x", "steps": [{"step": "launch", "colour": "red"}]}),
    ("send without message", {"description": "x", "steps": [{"step": "send"}]}),
    ("bad withinMs", {"description": "x", "steps": [{"step": "expectHello", "withinMs": "soon"}]}),
    ("unknown top-level member", {"description": "x", "steps": [{"step": "launch"}], "x": 1}),
    (
        "raw part with two kinds",
        {"description": "x", "steps": [{"step": "sendRaw", "parts": [{"text": "a", "hex": "00"}]}]},
    ),
]


@pytest.mark.parametrize(("label", "document"), _BAD_CASES, ids=[c[0] for c in _BAD_CASES])
def test_malformed_cases_are_rejected_by_schema_and_model(label: str, document: Any) -> None:
    assert list(_validator().iter_errors(document)), f"schema accepts: {label}"
    if label == "raw part with two kinds":
        return  # the model keeps parts as plain objects; the step rejects them at run time
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        decode_case(json.dumps(document).encode())


def test_lint_rejects_signal_without_requirement(tmp_path: Path) -> None:
    case = {
        "description": "x",
        "steps": [{"step": "launch"}, {"step": "signal", "signal": "SIGTERM"}],
    }
    (tmp_path / "area").mkdir()
    (tmp_path / "area" / "c.json").write_text(json.dumps(case), encoding="utf-8")
    loaded = CaseLoader(tmp_path).select()
    assert loaded[0].error is not None
    assert "posixSignals" in loaded[0].error
