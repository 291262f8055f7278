"""The pattern language of case files: does a received JSON value match a pattern?

A pattern is a JSON value. Plain values match *exactly and type-strictly*: ``1`` matches the
integer 1 only (not ``1.0``, not ``true``, not ``"1"``); a float pattern matches any number of
equal value; arrays match element by element with the same length. A plain object pattern
matches any object that has (at least) its members, each matching; extra members are allowed
unless the pattern has ``"$exact": true``. A member whose pattern is ``{"$absent": true}`` must
not be present.

An object whose members are operators (names starting with ``$``) is an operator pattern; all
its operators must hold:

=================  ==========================================================================
``$any``           anything (the member must exist)
``$absent``        (object members only) the member must not exist
``$type``          JSON type name or list of names: null, boolean, integer, number, string,
                   array, object (integer = a JSON number without fraction)
``$regex``         a string containing a match of this regular expression (use the portable
                   subset shared by ECMAScript, Rust ``regex`` and Python ``re``)
``$min``/``$max``  a number (not a boolean) within these inclusive bounds
``$length``        an array, string or object of this many items/characters/members
``$contains``      an array with at least one element matching this pattern
``$in``            equal (type-strict) to one of the values of this list
``$oneOf``         matching at least one of these patterns (the first that matches binds)
``$not``           not matching this pattern
``$literal``       equal (type-strict) to this value, taken literally (no operators inside)
``$capture``       bind the matched value to this variable (``name[]`` appends to a list);
                   alone it matches any value; allowed beside other operators and in plain
                   object patterns (then it captures the matched object)
=================  ==========================================================================

Captures are only committed when the whole pattern matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from .outcome import HarnessError

__all__ = ["MatchResult", "PatternError", "describe", "json_equal", "match"]

_OPERATORS: Final = frozenset(
    {
        "$any",
        "$absent",
        "$type",
        "$regex",
        "$min",
        "$max",
        "$length",
        "$contains",
        "$in",
        "$oneOf",
        "$not",
        "$literal",
    }
)
_MODIFIERS: Final = frozenset({"$capture", "$exact"})
_TYPES: Final = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


class PatternError(HarnessError):
    """The pattern itself is malformed (a bad case file, not a runner failure)."""


@dataclass(slots=True)
class MatchResult:
    """``ok`` with the captures to commit, or the first mismatch as ``path``/``reason``."""

    ok: bool
    path: str = "$"
    reason: str = ""
    captures: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value (``integer`` for ints, ``number`` for floats)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Deep, type-strict JSON equality (``1 != 1.0 != True``; object member order ignored)."""
    ta, tb = json_type(a), json_type(b)
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def describe(value: Any, limit: int = 200) -> str:
    """A short JSON-ish rendering of ``value`` for failure messages."""
    import json  # noqa: PLC0415 - only needed on the failure path

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _is_operator_object(pattern: dict[str, Any]) -> bool:
    """Operators present, or nothing but ``$capture`` (which then captures any value)."""
    return any(key in _OPERATORS for key in pattern) or set(pattern) == {"$capture"}


def _type_matches(name: str, value: Any) -> bool:
    actual = json_type(value)
    if name == "number":
        return actual in ("integer", "number")
    return actual == name


class _Matcher:
    def __init__(self) -> None:
        self.captures: dict[str, Any] = {}

    def fail(self, path: str, reason: str) -> MatchResult:
        return MatchResult(False, path, reason)

    def run(self, pattern: Any, value: Any, path: str) -> MatchResult:
        if isinstance(pattern, dict):
            if _is_operator_object(pattern):
                return self.operators(pattern, value, path)
            return self.object(pattern, value, path)
        if isinstance(pattern, list):
            if not isinstance(value, list):
                return self.fail(path, f"expected an array, got {describe(value)}")
            if len(value) != len(pattern):
                return self.fail(
                    path, f"expected {len(pattern)} items, got {len(value)}: {describe(value)}"
                )
            for index, (sub, item) in enumerate(zip(pattern, value, strict=True)):
                result = self.run(sub, item, f"{path}[{index}]")
                if not result:
                    return result
            return MatchResult(True)
        if isinstance(pattern, float) and json_type(value) in ("integer", "number"):
            if pattern == value:
                return MatchResult(True)
        elif json_equal(pattern, value):
            return MatchResult(True)
        return self.fail(path, f"expected {describe(pattern)}, got {describe(value)}")

    def object(self, pattern: dict[str, Any], value: Any, path: str) -> MatchResult:
        exact = pattern.get("$exact", False)
        capture = pattern.get("$capture")
        for key in pattern:
            if key.startswith("$") and key not in _MODIFIERS:
                raise PatternError(f"unknown pattern operator {key!r} at {path} (use $literal)")
        if not isinstance(exact, bool):
            raise PatternError(f"$exact must be a boolean at {path}")
        if not isinstance(value, dict):
            return self.fail(path, f"expected an object, got {describe(value)}")
        wanted = {k: v for k, v in pattern.items() if k not in _MODIFIERS}
        for key, sub in wanted.items():
            sub_path = f"{path}.{key}"
            if isinstance(sub, dict) and sub.get("$absent") is True:
                if key in value:
                    return self.fail(sub_path, f"must be absent, got {describe(value[key])}")
                continue
            if key not in value:
                return self.fail(sub_path, "missing")
            result = self.run(sub, value[key], sub_path)
            if not result:
                return result
        if exact:
            extra = sorted(set(value) - set(wanted))
            if extra:
                return self.fail(path, f"unexpected members {extra} ($exact)")
        if capture is not None:
            self.capture(capture, value, path)
        return MatchResult(True)

    def capture(self, name: Any, value: Any, path: str) -> None:
        if not isinstance(name, str) or not name:
            raise PatternError(f"$capture needs a variable name at {path}")
        if name.endswith("[]"):
            self.captures.setdefault(name, []).append(value)
        else:
            self.captures[name] = value

    def operators(self, pattern: dict[str, Any], value: Any, path: str) -> MatchResult:
        for key in pattern:
            if key not in _OPERATORS and key != "$capture":
                raise PatternError(
                    f"{key!r} cannot be mixed with operators at {path} "
                    f"(operators: {sorted(_OPERATORS)})"
                )
        for key, arg in pattern.items():
            if key == "$capture":
                continue
            result = self.operator(key, arg, value, path)
            if not result:
                return result
        if "$capture" in pattern:
            self.capture(pattern["$capture"], value, path)
        return MatchResult(True)

    def operator(self, key: str, arg: Any, value: Any, path: str) -> MatchResult:
        ok = MatchResult(True)
        if key == "$any":
            return ok
        if key == "$absent":
            raise PatternError(f"$absent is only meaningful as an object member at {path}")
        if key == "$type":
            names = arg if isinstance(arg, list) else [arg]
            if not names or any(n not in _TYPES for n in names):
                raise PatternError(f"$type needs names from {sorted(_TYPES)} at {path}")
            if any(_type_matches(n, value) for n in names):
                return ok
            return self.fail(path, f"expected type {arg}, got {json_type(value)}")
        if key == "$regex":
            if not isinstance(arg, str):
                raise PatternError(f"$regex needs a string at {path}")
            try:
                compiled = re.compile(arg)
            except re.error as exc:
                raise PatternError(f"bad $regex {arg!r} at {path}: {exc}") from None
            if isinstance(value, str) and compiled.search(value):
                return ok
            return self.fail(path, f"expected a string matching /{arg}/, got {describe(value)}")
        if key in ("$min", "$max"):
            if json_type(arg) not in ("integer", "number"):
                raise PatternError(f"{key} needs a number at {path}")
            if json_type(value) not in ("integer", "number"):
                return self.fail(path, f"expected a number, got {describe(value)}")
            if (key == "$min" and value < arg) or (key == "$max" and value > arg):
                return self.fail(path, f"{describe(value)} violates {key} {arg}")
            return ok
        if key == "$length":
            if type(arg) is not int:
                raise PatternError(f"$length needs an integer at {path}")
            if isinstance(value, (list, str, dict)) and len(value) == arg:
                return ok
            return self.fail(path, f"expected length {arg}, got {describe(value)}")
        if key == "$contains":
            if not isinstance(value, list):
                return self.fail(path, f"expected an array, got {describe(value)}")
            for index, item in enumerate(value):
                result = self.sub(arg, item, f"{path}[{index}]")
                if result:
                    return ok
            return self.fail(path, f"no element matches {describe(arg)}")
        if key == "$in":
            if not isinstance(arg, list):
                raise PatternError(f"$in needs a list at {path}")
            if any(json_equal(candidate, value) for candidate in arg):
                return ok
            return self.fail(path, f"expected one of {describe(arg)}, got {describe(value)}")
        if key == "$oneOf":
            if not isinstance(arg, list) or not arg:
                raise PatternError(f"$oneOf needs a non-empty list at {path}")
            reasons = []
            for alternative in arg:
                result = self.sub(alternative, value, path)
                if result:
                    return ok
                reasons.append(f"{result.path}: {result.reason}")
            return self.fail(path, "no alternative of $oneOf matches: " + "; ".join(reasons))
        if key == "$not":
            probe = _Matcher()
            if probe.run(arg, value, path):
                return self.fail(path, f"must not match {describe(arg)}, got {describe(value)}")
            return ok
        if key == "$literal":
            if json_equal(arg, value):
                return ok
            return self.fail(path, f"expected {describe(arg)}, got {describe(value)}")
        raise PatternError(f"unknown operator {key!r} at {path}")  # pragma: no cover

    def sub(self, pattern: Any, value: Any, path: str) -> MatchResult:
        """Match in a scratch matcher; merge its captures only on success."""
        probe = _Matcher()
        result = probe.run(pattern, value, path)
        if result:
            for name, captured in probe.captures.items():
                if name.endswith("[]"):
                    self.captures.setdefault(name, []).extend(captured)
                else:
                    self.captures[name] = captured
        return result


def match(pattern: Any, value: Any) -> MatchResult:
    """Match ``value`` against ``pattern`` (already variable-substituted).

    Returns a :class:`MatchResult`; raises :class:`PatternError` for a malformed pattern.
    On success ``result.captures`` maps capture names to values; names ending in ``[]``
    map to the list of values to append.
    """
    matcher = _Matcher()
    result = matcher.run(pattern, value, "$")
    if result:
        result.captures = matcher.captures
    return result
