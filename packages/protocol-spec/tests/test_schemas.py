"""The JSON Schemas, index.json and SPEC.md of the runner protocol agree with each other.

Each schema file is its own test id, so a broken schema names itself.
"""

from __future__ import annotations

import json
import re
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
from referencing import Registry

SCHEMA_DIR = schema_dir()
SPEC_PATH = SCHEMA_DIR.parent / "SPEC.md"
if not SPEC_PATH.is_file():  # installed wheel: SPEC.md is shipped inside _schemas/
    SPEC_PATH = SCHEMA_DIR / "SPEC.md"

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


def _refs(node: Any) -> list[str]:
    """Every ``$ref`` string anywhere in a schema document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_refs(item))
    return found


def test_schema_dir_is_populated() -> None:
    assert (SCHEMA_DIR / "index.json").is_file()
    assert "common.json" in ALL_FILES
    assert len(STRUCTURE_FILES) >= 30


@pytest.mark.parametrize("name", ALL_FILES)
def test_schema_is_valid_2020_12(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_BASE_URI + name
    assert isinstance(schema.get("title"), str)
    assert schema["title"]
    assert isinstance(schema.get("description"), str)
    assert schema["description"]


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_structure_file_name_is_kebab_case_of_title(name: str) -> None:
    title = load_schema(name)["title"]
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", title).lower()
    assert name == f"{kebab}.json"


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_message_objects_stay_open(name: str) -> None:
    """Unknown members are ignored by the protocol: no structure may forbid them."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert node.get("additionalProperties") is not False
            assert node.get("unevaluatedProperties") is not False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(load_schema(name))


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_ref_resolves(name: str) -> None:
    schema = load_schema(name)
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    for ref in _refs(schema):
        resolved = resolver.lookup(ref)
        assert isinstance(resolved.contents, dict | bool), ref


@pytest.mark.parametrize("name", REQUIRE_EXAMPLES)
def test_has_valid_and_invalid_examples(name: str) -> None:
    schema = load_schema(name)
    assert isinstance(schema.get("examples"), list)
    assert len(schema["examples"]) >= 1
    assert isinstance(schema.get("x-invalidExamples"), list)
    assert len(schema["x-invalidExamples"]) >= 1


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
    return SPEC_PATH.read_text(encoding="utf-8")


def _spec_headings_and_code_spans(spec: str) -> set[str]:
    tokens = set(re.findall(r"`([^`\n]+)`", spec))
    for line in spec.splitlines():
        if line.startswith("#"):
            tokens.add(line.lstrip("#").strip())
    return tokens


@pytest.mark.parametrize("method", [m["name"] for m in load_index()["methods"]])
def test_method_is_documented_in_spec(method: str) -> None:
    spec = _spec()
    assert method in _spec_headings_and_code_spans(spec)
    headings = [line for line in spec.splitlines() if line.startswith("###")]
    assert any(f"`{method}`" in heading for heading in headings), f"no section for {method}"


def _error_table_rows(spec: str) -> dict[int, str]:
    rows: dict[int, str] = {}
    for line in spec.splitlines():
        match = re.match(r"^\|\s*`?(-\d{5})`?\s*\|\s*`?(\w+)`?\s*\|", line)
        if match:
            rows[int(match.group(1))] = match.group(2)
    return rows


@pytest.mark.parametrize("entry", load_index()["errorCodes"], ids=lambda e: str(e["code"]))
def test_error_code_is_in_spec_table(entry: dict[str, Any]) -> None:
    rows = _error_table_rows(_spec())
    assert rows.get(entry["code"]) == entry["name"]


def test_spec_table_has_no_code_missing_from_index() -> None:
    codes = {entry["code"] for entry in load_index()["errorCodes"]}
    assert set(_error_table_rows(_spec())) <= codes


def test_spec_keeps_wal_placeholder() -> None:
    assert "## 12. Durable event records (WAL)" in _spec()


_JSON_BLOCK = re.compile(
    r"(?:<!--\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```json\n(?P<body>.*?)```", re.S
)


def _spec_json_blocks() -> list[tuple[str, Any]]:
    blocks = []
    for match in _JSON_BLOCK.finditer(_spec()):
        blocks.append((match.group("marker") or "", json.loads(match.group("body"))))
    return blocks


def test_spec_json_examples_parse_and_validate() -> None:
    """Every ```json block of SPEC.md is JSON; JSON-RPC messages validate against the schemas.

    A block preceded by ``<!-- schema: file.json -->`` is validated against that file; a block
    preceded by ``<!-- invalid -->`` is expected to fail its schema. Responses are matched to
    the latest preceding request with the same id to find their result schema.
    """
    registry: Registry[Any] = schema_registry()
    methods = {method["name"]: method for method in load_index()["methods"]}
    pending: dict[str, str] = {}
    checked = 0

    def check(file: str, instance: Any, *, expect_valid: bool, what: str) -> None:
        nonlocal checked
        validator = Draft202012Validator(load_schema(file), registry=registry)
        assert validator.is_valid(instance) == expect_valid, f"{what} vs {file}: {instance!r}"
        checked += 1

    for marker, block in _spec_json_blocks():
        expect_valid = marker != "invalid"
        if marker.startswith("schema:"):
            check(marker.split(":", 1)[1].strip(), block, expect_valid=True, what="block")
            continue
        if not (isinstance(block, dict) and block.get("jsonrpc") == "2.0"):
            continue
        key = json.dumps(block.get("id"))
        if "method" in block:
            envelope = "request-message.json" if "id" in block else "notification-message.json"
            method = methods.get(block["method"])
            if "id" in block:
                pending[key] = block["method"]
            if method is None or method["params"] is None or "params" not in block:
                check(envelope, block, expect_valid=expect_valid, what="message")
                continue
            check(envelope, block, expect_valid=True, what="message")
            check(method["params"], block["params"], expect_valid=expect_valid, what="params")
        else:
            check("response-message.json", block, expect_valid=True, what="response")
            method_name = pending.get(key)
            if "result" in block and method_name in methods:
                result_file = methods[method_name]["result"]
                if result_file is None:
                    assert block["result"] is None, block
                else:
                    check(result_file, block["result"], expect_valid=True, what="result")
    assert checked >= 40


def test_spec_mentions_every_structure_schema_file() -> None:
    spec = _spec()
    for name in [*STRUCTURE_FILES, "common.json", "index.json", "index.schema.json"]:
        assert f"`{name}`" in spec, name


def test_schema_dir_matches_source_tree() -> None:
    assert Path(SCHEMA_DIR, "index.json").is_file()
    assert load_index()["protocolVersion"] == "1.0"
