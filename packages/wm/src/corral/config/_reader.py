"""Typed reads from parsed TOML tables, each failure a precise :class:`ConfigError`.

A :class:`Table` wraps one parsed TOML table together with its key path and the file it
came from (:class:`Where`); it rejects unknown keys when it is created and offers one
method per value shape (string, number, array of strings, ...). Absent optional values
come back as ``msgspec.UNSET`` so that callers can tell "not written" from "written".
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from corral.config.errors import ConfigError, child_key, describe, did_you_mean, index_key

NOTHING = "nothing"


class Where(msgspec.Struct, frozen=True, kw_only=True):
    """The file a value came from, and how error messages name it."""

    file: Path
    display: str
    preset: str | None = None

    def error(self, key: str, *, found: str, expected: str, hint: str | None = None) -> ConfigError:
        """A :class:`ConfigError` about ``key`` in this file."""
        return ConfigError(
            self.file,
            key,
            found=found,
            expected=expected,
            hint=hint,
            display=self.display,
            preset=self.preset,
        )


def unknown_key_error(
    where: Where, key: str, name: str, known: Sequence[str], hint: str | None = None
) -> ConfigError:
    """The error for a key that is not one of ``known`` (with a close match when there is one)."""
    return where.error(
        key,
        found="an unknown key",
        expected=f"one of the known keys ({', '.join(known)})" if known else "no keys here",
        hint=did_you_mean(name, known) or hint,
    )


class Table:
    """One parsed TOML table at a known key path; construction rejects unknown keys.

    ``hints`` maps an unknown key to a hint used when difflib finds no close match.
    """

    def __init__(
        self,
        where: Where,
        key: str,
        value: Any,
        *,
        known: Sequence[str],
        expected: str = "a table",
        hints: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(value, dict):
            raise where.error(key, found=describe(value), expected=expected)
        for name in value:
            if name not in known:
                raise unknown_key_error(
                    where, child_key(key, name), name, known, (hints or {}).get(name)
                )
        self.where = where
        self.key = key
        self.data: dict[str, Any] = value

    def key_of(self, name: str) -> str:
        """The key path of ``name`` in this table."""
        return child_key(self.key, name)

    def error(self, name: str, value: Any, expected: str, hint: str | None = None) -> ConfigError:
        """An error about the value at ``name`` (``msgspec.UNSET`` means it is missing)."""
        found = NOTHING if value is UNSET else describe(value)
        return self.where.error(self.key_of(name), found=found, expected=expected, hint=hint)

    def get(self, name: str) -> Any:
        """The raw value at ``name``, or ``msgspec.UNSET``."""
        return self.data.get(name, UNSET)

    def table(self, name: str, *, known: Sequence[str], expected: str = "a table") -> Table | None:
        """The sub-table at ``name`` (unknown keys rejected), or None when absent."""
        value = self.get(name)
        if value is UNSET:
            return None
        return Table(self.where, self.key_of(name), value, known=known, expected=expected)

    def free_table(self, name: str) -> dict[str, Any] | UnsetType:
        """A table whose content is free-form (any keys, any values)."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if not isinstance(value, dict):
            raise self.error(name, value, "a table")
        return value

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        expected: str = "a non-empty string",
        pattern: re.Pattern[str] | None = None,
    ) -> str | UnsetType:
        """A non-empty string (matching ``pattern`` if given); missing is an error if required."""
        if name not in self.data:
            if required:
                raise self.error(name, UNSET, expected)
            return UNSET
        value = self.data[name]
        return check_string(self.where, self.key_of(name), value, expected, pattern)

    def required_string(self, name: str, *, expected: str) -> str:
        """A non-empty string that must be present."""
        value = self.get(name)
        if value is UNSET:
            raise self.error(name, value, expected)
        return check_string(self.where, self.key_of(name), value, expected)

    def boolean(self, name: str) -> bool | UnsetType:
        """``true`` or ``false``."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if not isinstance(value, bool):
            raise self.error(name, value, "a boolean (true or false)")
        return value

    def number(
        self, name: str, *, low: float, low_inclusive: bool, high: float | None = None
    ) -> float | UnsetType:
        """A finite number (integers accepted) with ``low < value`` (or ``<=``) ``[<= high]``."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        return check_number(
            self.where, self.key_of(name), value, low=low, low_inclusive=low_inclusive, high=high
        )

    def integer(self, name: str, *, low: int) -> int | UnsetType:
        """An integer ``>= low``."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.error(name, value, f"an integer >= {low}")
        return value

    def strings(
        self, name: str, *, expected: str = "an array of non-empty strings", nonempty: bool = False
    ) -> tuple[str, ...] | UnsetType:
        """An array of non-empty strings (the array itself non-empty if ``nonempty``)."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if not isinstance(value, list) or (nonempty and not value):
            hint = None
            if isinstance(value, str) and value.strip():
                hint = f"write an array: [{', '.join(json.dumps(w) for w in split(value))}]"
            raise self.error(name, value, expected, hint)
        key = self.key_of(name)
        return tuple(
            check_string(self.where, index_key(key, i), item, "a non-empty string")
            for i, item in enumerate(value)
        )

    def numbers(
        self, name: str, *, low: float, low_inclusive: bool, nonempty: bool
    ) -> tuple[float, ...] | UnsetType:
        """An array of finite numbers, each bounded below like :meth:`number`."""
        if name not in self.data:
            return UNSET
        value = self.data[name]
        if not isinstance(value, list) or (nonempty and not value):
            raise self.error(name, value, "a non-empty array of numbers")
        key = self.key_of(name)
        return tuple(
            check_number(self.where, index_key(key, i), item, low=low, low_inclusive=low_inclusive)
            for i, item in enumerate(value)
        )


def check_string(
    where: Where, key: str, value: Any, expected: str, pattern: re.Pattern[str] | None = None
) -> str:
    """``value`` if it is a non-empty string (matching ``pattern``), else a ConfigError.

    A value that is no string at all is reported as "expected a string"; a string that is
    empty or does not match, with ``expected``.
    """
    if not isinstance(value, str):
        hint = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            hint = "put it in quotes"
        raise where.error(key, found=describe(value), expected="a string", hint=hint)
    if not value.strip() or (pattern is not None and not pattern.match(value)):
        raise where.error(key, found=describe(value), expected=expected)
    return value


def split(text: str) -> list[str]:
    """``text`` split like a shell command line (plain whitespace split if it does not parse)."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def check_number(
    where: Where,
    key: str,
    value: Any,
    *,
    low: float,
    low_inclusive: bool,
    high: float | None = None,
) -> float:
    """``value`` as a float if it is a finite number within the bounds, else a ConfigError."""
    if high is not None:
        expected = f"a number between {low:g} and {high:g}"
    else:
        expected = f"a number {'>=' if low_inclusive else '>'} {low:g}"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value >= low if low_inclusive else value > low
        ok = ok and (high is None or value <= high)
    if not ok:
        raise where.error(key, found=describe(value), expected=expected)
    return float(value)
