"""The msgspec types and the JSON Schemas describe the same messages.

For every structure in ``schemas/index.json`` that has a Python type of the same name (in
:mod:`corral_protocol.messages`, or :mod:`corral_protocol.results` for the standard result
shapes of SPEC.md §13):
each schema example decodes into the type and re-encodes to the same JSON, and each
``x-invalidExamples`` instance is rejected by the type as well as by the schema. The method
table in :mod:`corral_protocol.methods` must list the same methods with the same shapes.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from corral_protocol import messages, results
from corral_protocol.errordata import ERROR_DATA
from corral_protocol.methods import METHODS
from corral_protocol.schemas import load_index, load_schema
from schema_checks import round_trips, validator

# Envelope shapes are handled by the JSON-RPC core, not by a message type.
ENVELOPES = {"RequestMessage", "NotificationMessage", "ResponseMessage"}


def structures() -> list[tuple[str, str]]:
    return [
        (s["name"], s["schema"])
        for s in load_index()["structures"]
        if s["name"] not in ENVELOPES and s["name"] != "WalRecord"
    ]


TYPE_MODULES = (messages, results)


def python_type(name: str) -> Any:
    for module in TYPE_MODULES:
        if name in module.__all__:
            return getattr(module, name)
    return None


def test_every_structure_has_a_python_type() -> None:
    missing = [name for name, _ in structures() if python_type(name) is None]
    assert missing == []


def test_every_python_type_has_a_schema() -> None:
    named = {name for name, _ in structures()}
    python = {
        name
        for module in TYPE_MODULES
        for name in module.__all__
        if isinstance(getattr(module, name), type)
    }
    assert python - named == set()


@pytest.mark.parametrize(("name", "schema_file"), structures())
def test_examples_round_trip_through_the_type(name: str, schema_file: str) -> None:
    schema = load_schema(schema_file)
    kind = python_type(name)
    assert schema["examples"], f"{schema_file} has no examples"
    for example in schema["examples"]:
        encoded, expected = round_trips(kind, example)
        assert encoded == expected, f"{name}: {example} re-encoded as {encoded}"
        validator(schema_file).validate(encoded)


@pytest.mark.parametrize(("name", "schema_file"), structures())
def test_invalid_examples_are_rejected_by_type_and_schema(name: str, schema_file: str) -> None:
    schema = load_schema(schema_file)
    kind = python_type(name)
    check = validator(schema_file)
    for example in schema.get("x-invalidExamples", []):
        assert not check.is_valid(example), f"schema accepts {example}"
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(example, kind)


def test_method_table_matches_the_index() -> None:
    index = {m["name"]: m for m in load_index()["methods"]}
    files = {s["name"]: s["schema"] for s in load_index()["structures"]}
    assert set(index) == {m.name for m in METHODS}
    for method in METHODS:
        entry = index[method.name]
        assert entry["direction"] == method.direction, method.name
        assert entry["kind"] == method.kind, method.name
        for field, kind in (("params", method.params), ("result", method.result)):
            expected = None if kind is None else files[kind.__name__]
            assert entry[field] == expected, f"{method.name}.{field}"


@pytest.mark.parametrize("code", sorted(ERROR_DATA))
def test_error_data_types_match_common_defs(code: int) -> None:
    """Each error ``data`` Struct has the members of its ``common.json`` definition, and
    requires the same ones."""
    kind = ERROR_DATA[code]
    definition = load_schema("common.json")["$defs"][kind.__name__]
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, msgspec.inspect.StructType)
    assert {f.encode_name for f in info.fields} == set(definition["properties"])
    assert {f.encode_name for f in info.fields if f.required} == set(definition.get("required", []))


def test_params_type_is_the_tables_and_refuses_unknown_or_reversed_methods() -> None:
    from corral_protocol.methods import params_type  # noqa: PLC0415

    for method in METHODS:
        assert params_type(method.name, method.direction) is method.params
    with pytest.raises(LookupError, match="no wm-to-runner method 'actions/runn'"):
        params_type("actions/runn", "wm-to-runner")
    with pytest.raises(LookupError, match="runner-to-wm"):
        params_type("actions/run", "runner-to-wm")
