"""The client protocol's schemas, index, msgspec types and SPEC.md Part II agree.

``schemas/client/``: each file is a valid draft 2020-12 schema under the client ``$id``
base whose references (to client schemas and, by absolute ``$id``, to runner ones) resolve;
``index.json`` lists exactly :data:`corral_protocol.client.CLIENT_METHODS`; every type of
:mod:`corral_protocol.client` has a schema with the same members and vice versa; every
example decodes into the type and re-encodes to itself; every invalid example is refused by
both; and Part II of SPEC.md documents every method, error code and schema file, with
worked examples that validate.
"""

from __future__ import annotations

import types
from typing import Any

import msgspec
import pytest
from corral_protocol import client, messages
from corral_protocol.client import CLIENT_METHODS, CLIENT_PROTOCOL_VERSION
from corral_protocol.schemas import (
    CLIENT_SCHEMA_BASE_URI,
    SCHEMA_BASE_URI,
    load_index,
    load_schema,
    schema_names,
    schema_registry,
)
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
    round_trips,
    spec_part,
    validator,
)

ALL_FILES = [name for name in schema_names("client") if name != "index.json"]
NOT_STRUCTURES = {"common.json", "index.json", "index.schema.json"}
STRUCTURE_FILES = [name for name in ALL_FILES if name not in NOT_STRUCTURES]
REQUIRE_EXAMPLES = [*STRUCTURE_FILES, "index.schema.json"]
INDEX = load_index("client")

# The record file a server keeps in the runtime directory (SPEC.md §15.3) is a file format,
# not a message: it has a schema but no msgspec type in corral_protocol.client.
WITHOUT_TYPE = {"ServerRecord"}


def typed_structures() -> list[tuple[str, str]]:
    return [(s["name"], s["schema"]) for s in INDEX["structures"] if s["name"] not in WITHOUT_TYPE]


def client_types() -> dict[str, Any]:
    """Every message type of corral_protocol.client: Structs and the RunReport union."""
    return {
        name: value
        for name in client.__all__
        if isinstance(value := getattr(client, name), type | types.UnionType)
    }


def client_validator(name: str) -> Any:
    return validator(name, "client")


# --- the schema files -------------------------------------------------------------------------


def test_client_schema_dir_is_populated() -> None:
    assert {"index.json", "index.schema.json", "common.json"} <= set(schema_names("client"))
    assert len(STRUCTURE_FILES) >= 25
    assert INDEX["protocolVersion"] == CLIENT_PROTOCOL_VERSION


@pytest.mark.parametrize("name", ALL_FILES)
def test_schema_is_valid_2020_12(name: str) -> None:
    check_schema_header(load_schema(name, "client"), CLIENT_SCHEMA_BASE_URI + name)


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_structure_file_name_is_kebab_case_of_title(name: str) -> None:
    assert name == kebab_file_name(load_schema(name, "client")["title"])


@pytest.mark.parametrize("name", STRUCTURE_FILES)
def test_message_objects_stay_open(name: str) -> None:
    assert not forbids_unknown_members(load_schema(name, "client"))


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_ref_resolves(name: str) -> None:
    """Relative references resolve among the client schemas; absolute ones reach the runner
    protocol's schemas, and only those (never another base, never a missing file)."""
    schema = load_schema(name, "client")
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    for ref in refs(schema):
        if "://" in ref:
            assert ref.startswith(SCHEMA_BASE_URI), ref
        resolved = resolver.lookup(ref)
        assert isinstance(resolved.contents, dict | bool), ref


def test_registry_holds_both_protocols() -> None:
    registry = schema_registry()
    assert registry.contents(CLIENT_SCHEMA_BASE_URI + "run-report.json")["title"] == "RunReport"
    assert registry.contents(SCHEMA_BASE_URI + "run-result.json")["title"] == "RunResult"


@pytest.mark.parametrize("name", REQUIRE_EXAMPLES)
def test_has_valid_and_invalid_examples(name: str) -> None:
    check_has_examples(load_schema(name, "client"))


@pytest.mark.parametrize("name", REQUIRE_EXAMPLES)
def test_schema_examples_validate_and_invalid_ones_fail(name: str) -> None:
    check = client_validator(name)
    schema = load_schema(name, "client")
    for example in schema["examples"]:
        errors = [error.message for error in check.iter_errors(example)]
        assert not errors, f"{name}: valid example rejected: {example!r}: {errors}"
    for example in schema["x-invalidExamples"]:
        assert not check.is_valid(example), f"{name}: invalid example accepted: {example!r}"


# --- the index ------------------------------------------------------------------------------


def test_index_validates_against_its_schema() -> None:
    errors = [error.message for error in client_validator("index.schema.json").iter_errors(INDEX)]
    assert not errors


def test_index_schemas_exist_and_titles_match() -> None:
    for method in INDEX["methods"]:
        for key in ("params", "result"):
            if method[key] is not None:
                assert validator(method[key], "client").schema["title"], (method["name"], key)
    for structure in INDEX["structures"]:
        assert load_schema(structure["schema"], "client")["title"] == structure["name"]


def test_index_lists_every_structure_file_once() -> None:
    listed = [structure["schema"] for structure in INDEX["structures"]]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == STRUCTURE_FILES


def test_index_names_are_unique_and_errors_are_the_runner_protocols() -> None:
    names = [method["name"] for method in INDEX["methods"]]
    assert len(names) == len(set(names))
    codes = {entry["code"]: entry["name"] for entry in INDEX["errorCodes"]}
    assert len(codes) == len(INDEX["errorCodes"])
    runner = {entry["code"]: entry["name"] for entry in load_index()["errorCodes"]}
    assert {code: runner.get(code) for code in codes} == codes, "same code, same name"
    for method in INDEX["methods"]:
        assert set(method["errors"]) <= set(codes), method["name"]


def _schema_of(type_name: str | None) -> str | None:
    """The index's name for the schema of a type: a client file, or a runner schema's $id."""
    if type_name is None:
        return None
    ours = {s["name"]: s["schema"] for s in INDEX["structures"]}
    if type_name in ours:
        return ours[type_name]
    runner = {s["name"]: s["schema"] for s in load_index()["structures"]}
    return SCHEMA_BASE_URI + runner[type_name]


def test_method_table_matches_the_index() -> None:
    index = {m["name"]: m for m in INDEX["methods"]}
    assert list(index) == [name for name, *_ in CLIENT_METHODS]
    for name, direction, kind, params, result in CLIENT_METHODS:
        entry = index[name]
        assert entry["direction"] == direction, name
        assert entry["kind"] == kind, name
        assert entry["params"] == _schema_of(params), f"{name}.params"
        assert entry["result"] == _schema_of(result), f"{name}.result"
        for type_name in (params, result):
            if type_name is not None:
                assert hasattr(client, type_name) or hasattr(messages, type_name), type_name


# --- the msgspec types ------------------------------------------------------------------------


def test_every_structure_has_a_python_type_and_vice_versa() -> None:
    assert {name for name, _ in typed_structures()} == set(client_types())


@pytest.mark.parametrize(("name", "schema_file"), typed_structures())
def test_examples_round_trip_through_the_type(name: str, schema_file: str) -> None:
    kind = client_types()[name]
    for example in load_schema(schema_file, "client")["examples"]:
        encoded, expected = round_trips(kind, example)
        assert encoded == expected, f"{name}: {example} re-encoded as {encoded}"
        client_validator(schema_file).validate(encoded)


@pytest.mark.parametrize(("name", "schema_file"), typed_structures())
def test_invalid_examples_are_rejected_by_type_and_schema(name: str, schema_file: str) -> None:
    kind = client_types()[name]
    check = client_validator(schema_file)
    for example in load_schema(schema_file, "client")["x-invalidExamples"]:
        assert not check.is_valid(example), f"schema accepts {example}"
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(example, kind)


@pytest.mark.parametrize(
    ("name", "schema_file"),
    [(n, f) for n, f in typed_structures() if isinstance(client_types()[n], type)],
)
def test_schema_members_are_the_type_fields(name: str, schema_file: str) -> None:
    """Same members, same required ones (the tag of a tagged type is a schema member)."""
    info = msgspec.inspect.type_info(client_types()[name])
    assert isinstance(info, msgspec.inspect.StructType)
    schema = load_schema(schema_file, "client")
    members = set(schema["properties"]) - {info.tag_field}
    assert members == {field.encode_name for field in info.fields}
    assert set(schema["required"]) == {f.encode_name for f in info.fields if f.required}


def test_run_report_is_told_apart_by_scope() -> None:
    project, workspace = load_schema("run-report.json", "client")["examples"]
    assert isinstance(msgspec.convert(project, client.RunReport), client.ProjectReport)
    assert isinstance(msgspec.convert(workspace, client.RunReport), client.WorkspaceReport)
    encoded = msgspec.json.decode(msgspec.json.encode(msgspec.convert(project, client.RunReport)))
    assert encoded["scope"] == "project"


# --- SPEC.md Part II ------------------------------------------------------------------------


def _spec() -> str:
    return spec_part(2)


@pytest.mark.parametrize("method", [m["name"] for m in INDEX["methods"]])
def test_method_is_documented_in_part_ii(method: str) -> None:
    spec = _spec()
    assert method in headings_and_code_spans(spec)
    assert has_method_section(spec, method), f"no section for {method}"


def test_part_ii_error_table_is_the_index() -> None:
    rows = error_table_rows(_spec())
    assert rows == {entry["code"]: entry["name"] for entry in INDEX["errorCodes"]}


def test_part_ii_json_examples_parse_and_validate() -> None:
    """Part II's worked examples validate against the client schemas (see
    :func:`schema_checks.check_spec_json_blocks`)."""
    assert check_spec_json_blocks(_spec(), INDEX, "client") >= 40


@pytest.mark.parametrize("name", schema_names("client"))
def test_part_ii_mentions_every_client_schema_file(name: str) -> None:
    spec = _spec()
    assert f"`{name}`" in spec or f"`client/{name}`" in spec, name


def test_part_ii_states_the_numbers_the_server_implements() -> None:
    """The limits a client relies on are written down (the server's code uses the same)."""
    spec = _spec()
    for fact in ("8 MiB", "3 h", "0700", "0600", "SO_PEERCRED", "$XDG_RUNTIME_DIR/corral"):
        assert fact in spec, fact
