"""The pattern language and ``${var}`` substitution of case files."""

from __future__ import annotations

from typing import Any

import pytest
from corral_conformance.matcher import PatternError, json_equal, match
from corral_conformance.outcome import HarnessError
from corral_conformance.variables import Variables, substitute


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        (1, 1),
        ("1", "1"),
        (None, None),
        (True, True),
        (1.5, 1.5),
        (0.0, 0),  # a float pattern matches any equal number
        ([1, "a"], [1, "a"]),
        ({"a": 1}, {"a": 1, "b": 2}),  # subset
        ({"a": {"$absent": True}}, {"b": 1}),
        ({"a": {"$any": True}}, {"a": None}),
        ({"$type": "integer"}, 5),
        ({"$type": ["string", "null"]}, None),
        ({"$type": "number"}, 5),
        ({"$regex": "^framing error:"}, "framing error: bad"),
        ({"$min": 0, "$max": 0}, 0.0),
        ({"$length": 2}, [1, 2]),
        ({"$length": 3}, "héé"),
        ({"$contains": {"id": 1}}, [{"id": 2}, {"id": 1, "x": 0}]),
        ({"$in": [1, "two"]}, "two"),
        ({"$oneOf": [{"result": {}}, {"error": {"code": -32800}}]}, {"error": {"code": -32800}}),
        ({"$not": {"$type": "string"}}, 1),
        ({"$literal": {"$any": True}}, {"$any": True}),
        ({"$capture": "x"}, [1, 2]),
        ({"$exact": True, "a": 1}, {"a": 1}),
    ],
)
def test_matches(pattern: Any, value: Any) -> None:
    result = match(pattern, value)
    assert result, f"{result.path}: {result.reason}"


@pytest.mark.parametrize(
    ("pattern", "value", "path"),
    [
        (1, 1.0, "$"),  # integers are type-strict: ids must be echoed exactly
        (1, True, "$"),
        (True, 1, "$"),
        ("1", 1, "$"),
        ([1], [1, 2], "$"),
        ({"a": 1}, {"a": 2}, "$.a"),
        ({"a": 1}, {}, "$.a"),
        ({"a": {"$absent": True}}, {"a": None}, "$.a"),
        ({"$exact": True, "a": 1}, {"a": 1, "b": 2}, "$"),
        ({"$type": "integer"}, 1.5, "$"),
        ({"$type": "integer"}, True, "$"),
        ({"$regex": "x"}, 5, "$"),
        ({"$min": 1}, True, "$"),
        ({"$in": [1]}, 1.0, "$"),
        ({"x": {"$oneOf": [1, 2]}}, {"x": 3}, "$.x"),
        ({"$not": 1}, 1, "$"),
        ({"$literal": {"a": 1}}, {"a": 1, "b": 2}, "$"),
        ({"r": [{"id": 1}]}, {"r": [{"id": 2}]}, "$.r[0].id"),
    ],
)
def test_mismatches_name_the_path(pattern: Any, value: Any, path: str) -> None:
    result = match(pattern, value)
    assert not result
    assert result.path == path


@pytest.mark.parametrize(
    "pattern",
    [
        {"$bogus": 1},
        {"$type": "float"},
        {"$regex": "("},
        {"$type": "string", "plain": 1},
        {"$absent": True},
        {"$in": 5},
        {"$oneOf": []},
        {"$capture": ""},
    ],
)
def test_malformed_patterns_are_harness_errors(pattern: Any) -> None:
    with pytest.raises(PatternError):
        match(pattern, "x")
    assert issubclass(PatternError, HarnessError)


def test_captures_are_committed_only_on_success() -> None:
    ok = match({"id": {"$capture": "id"}, "port": {"$capture": "ports[]"}}, {"id": 7, "port": 9})
    assert ok.captures == {"id": 7, "ports[]": [9]}
    failed = match({"id": {"$capture": "id"}, "x": 1}, {"id": 7, "x": 2})
    assert not failed
    assert failed.captures == {}
    alternatives = match(
        {"$oneOf": [{"a": {"$capture": "v"}, "b": 1}, {"a": {"$capture": "w"}}]}, {"a": 3}
    )
    assert alternatives.captures == {"w": 3}


def test_json_equal_is_type_strict() -> None:
    assert json_equal({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not json_equal([1], [1.0])
    assert not json_equal(0, False)


def test_substitution_keeps_json_types() -> None:
    variables = Variables()
    variables.set("n", 5)
    variables.set("s", "tok")
    variables.set("lst", [1, 2])
    template = {"id": "${n}", "next": "${n+1}", "prev": "${n-1}", "text": "a-${n}-${s}-${lst}"}
    assert substitute(template, variables) == {
        "id": 5,
        "next": 6,
        "prev": 4,
        "text": "a-5-tok-[1,2]",
    }
    assert substitute("$${n} stays", variables) == "${n} stays"
    assert substitute(["${lst}"], variables) == [[1, 2]]
    assert substitute({"${n}": "k"}, variables) == {"${n}": "k"}  # keys are left alone


def test_unknown_variables_and_bad_arithmetic_are_harness_errors() -> None:
    variables = Variables()
    variables.set("s", "text")
    with pytest.raises(HarnessError, match="unknown variable"):
        substitute("${missing}", variables)
    with pytest.raises(HarnessError, match="not an integer"):
        substitute("${s+1}", variables)


def test_capture_appends_to_lists() -> None:
    variables = Variables()
    variables.capture("ports[]", 1)
    variables.capture("ports[]", 2)
    variables.capture("one", 3)
    assert variables.get("ports") == [1, 2]
    assert variables.get("one") == 3
