"""The JSON Schemas, index.json and SPEC.md Part I of the runner protocol agree with each
other (the client protocol's, Part II: ``test_client_protocol.py``).

Each schema file is its own test id, so a broken schema names itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from corral_protocol.schemas import (
    SCHEMA_BASE_URI,
    load_index,
    load_schema,
    schema_dir,
    schema_names,
    schema_registry,
)
from jsonschema import Draft202012Validator
from schema_checks import (
    check_has_examples,
    check_schema_header,
    check_spec_json_blocks,
    error_table_rows,
    forbids_unknown_members,
    has_method_section,
    headings_and_code_spans,
    kebab_file_name,
    refs,
    spec_part,
)

SCHEMA_DIR = schema_dir()

ALL_FILES = [name for name in schema_names() if name != "index.json"]
# Files that are not wire structures: shared definitions, the meta model and its schema, and
# the WAL record schema (owned by the WAL section author).
NOT_STRUCTURES = {"common.json", "index.json", "index.schema.json", "wal-record.json"}
STRUCTURE_FILES = [name for name in ALL_FILES if name not in NOT_STRUCTURES]
# Every file with examples must have both kinds; these must have examples.
REQUIRE_EXAMPLES = [*STRUCTURE_FILES, "index.schema.json"]
EXAMPLE_FILES = [name for name in ALL_FILES if "examples" in load_schema(name)]


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name), registry=schema_registry())


def test_schema_dir_is_populated() -> None:
    assert (SCHEMA_DIR / "index.json").is_file()
    assert "common.json" in ALL_FILES
    assert len(STRUCTURE_FILES) >= 30


@pytest.mark.parametrize("name", ALL_FILES)
def test_schema_is_valid_2020_12(name: str) -> None:
    check_schema_header(load_schema(name), SCHEMA_BASE_URI + name)


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_structure_file_name_is_kebab_case_of_title(name: str) -> None:
    assert name == kebab_file_name(load_schema(name)["title"])


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_message_objects_stay_open(name: str) -> None:
    """Unknown members are ignored by the protocol: no structure may forbid them."""
    assert not forbids_unknown_members(load_schema(name))


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_ref_resolves(name: str) -> None:
    schema = load_schema(name)
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    for ref in refs(schema):
        resolved = resolver.lookup(ref)
        assert isinstance(resolved.contents, dict | bool), ref


@pytest.mark.parametrize("name", REQUIRE_EXAMPLES)
def test_has_valid_and_invalid_examples(name: str) -> None:
    check_has_examples(load_schema(name))


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_validate(name: str) -> None:
    validator = _validator(name)
    for example in load_schema(name)["examples"]:
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{name}: valid example rejected: {example!r}: {errors}"


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_invalid_examples_fail(name: str) -> None:
    validator = _validator(name)
    for example in load_schema(name).get("x-invalidExamples", []):
        assert not validator.is_valid(example), f"{name}: invalid example accepted: {example!r}"


def test_index_validates_against_its_schema() -> None:
    errors = [error.message for error in _validator("index.schema.json").iter_errors(load_index())]
    assert not errors


def test_index_files_exist_and_titles_match() -> None:
    index = load_index()
    for method in index["methods"]:
        for key in ("params", "result"):
            if method[key] is not None:
                assert (SCHEMA_DIR / method[key]).is_file(), (method["name"], method[key])
    for structure in index["structures"]:
        assert (SCHEMA_DIR / structure["schema"]).is_file(), structure
        assert load_schema(structure["schema"])["title"] == structure["name"]


def test_index_lists_every_structure_file_once() -> None:
    listed = [structure["schema"] for structure in load_index()["structures"]]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == STRUCTURE_FILES


def test_index_names_are_unique_and_errors_are_known() -> None:
    index = load_index()
    names = [method["name"] for method in index["methods"]]
    assert len(names) == len(set(names))
    codes = [entry["code"] for entry in index["errorCodes"]]
    assert len(codes) == len(set(codes))
    for method in index["methods"]:
        assert set(method["errors"]) <= set(codes), method["name"]


# ---------------------------------------------------------------------------- SPEC.md


def _spec() -> str:
    return spec_part(1)


@pytest.mark.parametrize("method", [m["name"] for m in load_index()["methods"]])
def test_method_is_documented_in_spec(method: str) -> None:
    spec = _spec()
    assert method in headings_and_code_spans(spec)
    assert has_method_section(spec, method), f"no section for {method}"


@pytest.mark.parametrize("entry", load_index()["errorCodes"], ids=lambda e: str(e["code"]))
def test_error_code_is_in_spec_table(entry: dict[str, Any]) -> None:
    rows = error_table_rows(_spec())
    assert rows.get(entry["code"]) == entry["name"]


def test_spec_table_has_no_code_missing_from_index() -> None:
    codes = {entry["code"] for entry in load_index()["errorCodes"]}
    assert set(error_table_rows(_spec())) <= codes


def test_spec_keeps_wal_placeholder() -> None:
    assert "## 12. Durable event records (WAL)" in _spec()


def test_spec_json_examples_parse_and_validate() -> None:
    """Every ```json block of Part I is JSON; JSON-RPC messages validate against the schemas.

    A block preceded by ``<!-- schema: file.json -->`` is validated against that file; a block
    preceded by ``<!-- invalid -->`` is expected to fail its schema. Responses are matched to
    the latest preceding request with the same id to find their result schema.
    """
    assert check_spec_json_blocks(_spec(), load_index(), "runner") >= 40


def test_spec_mentions_every_structure_schema_file() -> None:
    spec = _spec()
    for name in [*STRUCTURE_FILES, "common.json", "index.json", "index.schema.json"]:
        assert f"`{name}`" in spec, name


def test_schema_dir_matches_source_tree() -> None:
    assert Path(SCHEMA_DIR, "index.json").is_file()
    assert load_index()["protocolVersion"] == "1.0"
