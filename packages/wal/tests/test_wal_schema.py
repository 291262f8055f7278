"""schemas/wal-record.json: valid JSON Schema, its examples, and agreement with the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from corral_wal import (
    KNOWN_EVENTS,
    REQUIRED_PAYLOAD,
    WalRecord,
    decode_record,
    encode_record,
)
from corral_wal.record import EVENT_PATTERN, TS_PATTERN, WRITER_ID_PATTERN
from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).parents[2] / "protocol-spec" / "schemas" / "wal-record.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def test_schema_is_valid_2020_12_with_the_required_metadata(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://corral.dev/schemas/1.0/wal-record.json"
    assert schema["title"] == "WalRecord"
    assert schema["description"]
    assert len(schema["examples"]) >= 2
    assert len(schema["x-invalidExamples"]) >= 2
    assert "additionalProperties" not in json.dumps(schema)


def test_examples_validate_and_decode(schema: dict[str, Any], validator: Any) -> None:
    for example in schema["examples"]:
        assert list(validator.iter_errors(example)) == []
        frame = encode_record(msgspec.convert(example, WalRecord))
        assert msgspec.json.decode(frame[9:-1]) == example
        assert decode_record(frame) == msgspec.convert(example, WalRecord)


def test_invalid_examples_fail(schema: dict[str, Any], validator: Any) -> None:
    for example in schema["x-invalidExamples"]:
        assert list(validator.iter_errors(example)), example


def test_schema_agrees_with_the_code(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    assert props["writer"]["pattern"] == WRITER_ID_PATTERN
    assert props["ts"]["pattern"] == TS_PATTERN
    assert props["event"]["pattern"] == EVENT_PATTERN
    assert schema["required"] == list(WalRecord.__struct_encode_fields__)
    ruled: dict[str, list[str]] = {}
    for rule in schema["allOf"]:
        event = rule["if"]["properties"]["event"]
        then = rule["then"]
        payload = (then.get("allOf") or [then])[0]["properties"]["payload"]
        for name in event.get("enum", [event.get("const")]):
            ruled[name] = payload.get("required", [])
    for event, required in REQUIRED_PAYLOAD.items():
        if event in ruled:
            assert ruled[event] == list(required), event
    assert set(ruled) <= KNOWN_EVENTS
    assert KNOWN_EVENTS - set(ruled) <= {"wal.closed"}


def test_records_the_writer_produces_validate(tmp_path: Path, validator: Any) -> None:
    from corral_wal import WalWriter, read_stream  # noqa: PLC0415

    with WalWriter(tmp_path, "wm") as w:
        w.append(
            "run.accepted", run_id="r", payload={"scope": "action", "source": "cli", "depth": 0}
        )
        w.append(
            "handler.failed",
            run_id="r",
            payload={"handler": "h", "error": {"type": "E", "message": "m"}},
        )
        w.append("run.finished", run_id="r", payload={"status": "failed"})
        w.append("runner.state", project="/p", env="dev", payload={"from": None, "to": "starting"})
    for record in read_stream(tmp_path, "wm").records:
        assert list(validator.iter_errors(msgspec.to_builtins(record))) == []
