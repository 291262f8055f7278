"""Checks shared by the schema tests of both protocols (SPEC.md Part I and Part II).

* :func:`canonical`: a schema example as its msgspec type encodes it, so that "decode then
  encode gives the example back" can be asserted for every example.
* :func:`schema_at` / :func:`validator`: a schema named by file (in one protocol's
  directory) or by absolute ``$id`` (a client schema reusing a runner one).
* SPEC.md: its two parts, code spans and headings, error tables, and
  :func:`check_spec_json_blocks`, which validates the worked JSON examples of a part.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema
import msgspec
from corral_protocol.schemas import (
    SCHEMA_BASE_URI,
    Protocol,
    load_schema,
    schema_dir,
    schema_registry,
)

__all__ = [
    "PART_II_HEADING",
    "SPEC_PATH",
    "canonical",
    "check_has_examples",
    "check_schema_header",
    "check_spec_json_blocks",
    "error_table_rows",
    "forbids_unknown_members",
    "has_method_section",
    "headings_and_code_spans",
    "json_blocks",
    "kebab_file_name",
    "python_of",
    "refs",
    "round_trips",
    "schema_at",
    "spec_part",
    "spec_text",
    "validator",
]

SPEC_PATH = schema_dir().parent / "SPEC.md"
if not SPEC_PATH.is_file():  # installed wheel: SPEC.md is shipped inside _schemas/
    SPEC_PATH = schema_dir() / "SPEC.md"

PART_II_HEADING = "# Part II. The client protocol"
"""Where Part II of SPEC.md starts; Part I is everything before it."""


# --- schemas --------------------------------------------------------------------------------


def schema_at(ref: str, protocol: Protocol = "runner") -> dict[str, Any]:
    """The schema named by ``ref``: a file of ``protocol``'s directory, or an absolute
    ``$id`` (any protocol)."""
    if ref.startswith("https://"):
        contents = schema_registry().contents(ref)
        assert isinstance(contents, dict), ref
        return contents
    return load_schema(ref, protocol)


def validator(ref: str, protocol: Protocol = "runner") -> jsonschema.protocols.Validator:
    """A draft 2020-12 validator of the schema ``ref`` (see :func:`schema_at`)."""
    return jsonschema.Draft202012Validator(schema_at(ref, protocol), registry=schema_registry())


def refs(node: Any) -> list[str]:
    """Every ``$ref`` string anywhere in a schema document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(refs(item))
    return found


def check_schema_header(schema: dict[str, Any], expected_id: str) -> None:
    """A valid draft 2020-12 schema with that ``$id``, a title and a description."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == expected_id
    assert isinstance(schema.get("title"), str)
    assert schema["title"]
    assert isinstance(schema.get("description"), str)
    assert schema["description"]


def check_has_examples(schema: dict[str, Any]) -> None:
    """At least one example and one invalid example (``x-invalidExamples``)."""
    for key in ("examples", "x-invalidExamples"):
        assert isinstance(schema.get(key), list), key
        assert len(schema[key]) >= 1, key


def kebab_file_name(title: str) -> str:
    """``RunReport`` -> ``run-report.json``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", title).lower() + ".json"


def forbids_unknown_members(node: Any) -> bool:
    """Whether a schema anywhere closes an object (the protocols never do, §1.3)."""
    if isinstance(node, dict):
        if node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False:
            return True
        return any(forbids_unknown_members(value) for value in node.values())
    if isinstance(node, list):
        return any(forbids_unknown_members(item) for item in node)
    return False


# --- examples as the types encode them ------------------------------------------------------


def canonical(value: Any, info: msgspec.inspect.Type) -> Any:
    """``value`` as the type encodes it: unknown members are left out (the protocol ignores
    them), and so are members equal to their default, except in types that always write
    every member (``omit_defaults=False``: they are filled in)."""
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        out = {}
        omits = info.cls.__struct_config__.omit_defaults
        for field in info.fields:
            if field.encode_name not in value:
                if not omits and not field.required:
                    default = (
                        field.default
                        if field.default is not msgspec.NODEFAULT
                        else field.default_factory()
                    )
                    out[field.encode_name] = msgspec.to_builtins(default)
                continue
            item = value[field.encode_name]
            if not field.required and omits:
                if field.default is not msgspec.NODEFAULT:
                    default = field.default
                elif field.default_factory is not msgspec.NODEFAULT:
                    default = field.default_factory()
                else:
                    default = msgspec.UNSET  # `X | UnsetType = UNSET`: never equal to data
                if item == default:
                    continue
            out[field.encode_name] = canonical(item, field.type)
        if info.tag_field is not None and info.tag_field in value:
            out[info.tag_field] = value[info.tag_field]
        return out
    if isinstance(info, msgspec.inspect.UnionType):
        for option in info.types:
            try:
                msgspec.convert(value, python_of(option))
            except (msgspec.ValidationError, TypeError):
                continue
            return canonical(value, option)
        return value
    if isinstance(info, (msgspec.inspect.ListType,)) and isinstance(value, list):
        return [canonical(item, info.item_type) for item in value]
    if isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        return {key: canonical(item, info.value_type) for key, item in value.items()}
    if isinstance(info, msgspec.inspect.Metadata):
        return canonical(value, info.type)
    return value


def python_of(info: msgspec.inspect.Type) -> Any:
    """The Python type behind a type_info node, enough to test-convert a union member."""
    if isinstance(info, msgspec.inspect.StructType):
        return info.cls
    if isinstance(info, msgspec.inspect.Metadata):
        return python_of(info.type)
    simple = {
        msgspec.inspect.StrType: str,
        msgspec.inspect.IntType: int,
        msgspec.inspect.FloatType: float,
        msgspec.inspect.BoolType: bool,
        msgspec.inspect.NoneType: type(None),
        msgspec.inspect.AnyType: Any,
    }
    for node, python in simple.items():
        if isinstance(info, node):
            return python
    if isinstance(info, msgspec.inspect.ListType):
        return list[python_of(info.item_type)]  # type: ignore[misc]
    if isinstance(info, msgspec.inspect.DictType):
        return dict[str, python_of(info.value_type)]  # type: ignore[misc]
    if isinstance(info, msgspec.inspect.LiteralType):
        return Literal[tuple(info.values)]
    return Any


def round_trips(kind: Any, example: Any) -> tuple[Any, Any]:
    """``example`` decoded into ``kind`` and encoded again, and what that must equal."""
    decoded = msgspec.convert(example, kind)
    encoded = msgspec.json.decode(msgspec.json.encode(decoded))
    return encoded, canonical(example, msgspec.inspect.type_info(kind))


# --- SPEC.md ----------------------------------------------------------------------------------


def spec_text() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")


def spec_part(number: Literal[1, 2]) -> str:
    """Part I (the runner protocol, its appendix included) or Part II (the client protocol)."""
    before, heading, after = spec_text().partition(PART_II_HEADING)
    assert heading, f"SPEC.md has no heading {PART_II_HEADING!r}"
    return before if number == 1 else heading + after


def headings_and_code_spans(text: str) -> set[str]:
    tokens = set(re.findall(r"`([^`\n]+)`", text))
    for line in text.splitlines():
        if line.startswith("#"):
            tokens.add(line.lstrip("#").strip())
    return tokens


def has_method_section(text: str, method: str) -> bool:
    """Whether a ``###`` heading names ``method`` in backticks."""
    return any(line.startswith("###") and f"`{method}`" in line for line in text.splitlines())


def error_table_rows(text: str) -> dict[int, str]:
    """``code -> name`` of every table row that starts with an error code."""
    rows: dict[int, str] = {}
    for line in text.splitlines():
        match = re.match(r"^\|\s*`?(-\d{5})`?\s*\|\s*`?(\w+)`?\s*\|", line)
        if match:
            rows[int(match.group(1))] = match.group(2)
    return rows


_JSON_BLOCK = re.compile(
    r"(?:<!--\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```json\n(?P<body>.*?)```", re.S
)


def json_blocks(text: str) -> list[tuple[str, Any]]:
    """Every ```json block of ``text`` with the HTML comment marker right above it."""
    return [
        (match.group("marker") or "", json.loads(match.group("body")))
        for match in _JSON_BLOCK.finditer(text)
    ]


def check_spec_json_blocks(text: str, index: dict[str, Any], protocol: Protocol) -> int:
    """Validate the JSON examples of one part of SPEC.md; return how many checks passed.

    A block preceded by ``<!-- schema: file.json -->`` is validated against that file of
    ``protocol``; a block preceded by ``<!-- invalid -->`` must fail its schema. JSON-RPC
    messages are validated as envelopes, their params against the method's params schema
    in ``index``, and a response's result against the result schema of the latest
    preceding request with the same id. Other blocks are only parsed.
    """
    methods = {method["name"]: method for method in index["methods"]}
    pending: dict[str, str] = {}
    checked = 0

    def check(ref: str, instance: Any, *, expect_valid: bool, what: str) -> None:
        nonlocal checked
        valid = validator(ref, protocol).is_valid(instance)
        assert valid == expect_valid, f"{what} vs {ref}: {instance!r}"
        checked += 1

    for marker, block in json_blocks(text):
        expect_valid = marker != "invalid"
        if marker.startswith("schema:"):
            check(marker.split(":", 1)[1].strip(), block, expect_valid=True, what="block")
            continue
        if not (isinstance(block, dict) and block.get("jsonrpc") == "2.0"):
            continue
        key = json.dumps(block.get("id"))
        if "method" in block:
            kind = "request-message.json" if "id" in block else "notification-message.json"
            kind = SCHEMA_BASE_URI + kind  # the envelopes are the runner protocol's
            method = methods.get(block["method"])
            if "id" in block:
                pending[key] = block["method"]
            if method is None or method["params"] is None or "params" not in block:
                check(kind, block, expect_valid=expect_valid, what="message")
                continue
            check(kind, block, expect_valid=True, what="message")
            check(method["params"], block["params"], expect_valid=expect_valid, what="params")
        else:
            check(
                SCHEMA_BASE_URI + "response-message.json", block, expect_valid=True, what="response"
            )
            method_name = pending.get(key)
            if "result" in block and method_name in methods:
                result = methods[method_name]["result"]
                if result is None:
                    assert block["result"] is None, block
                else:
                    check(result, block["result"], expect_valid=True, what="result")
    return checked
