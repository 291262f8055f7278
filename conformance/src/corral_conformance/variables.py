"""``${name}`` references in case values, and the variables they name.

Rules (the same for every driver, see README "Variables"):

* A string that is exactly ``"${name}"`` is replaced by the variable's value *with its JSON
  type* (an integer stays an integer, a list stays a list).
* ``"${name+N}"`` / ``"${name-N}"`` add or subtract an integer literal (the variable must
  hold an integer).
* Inside a longer string, references are replaced by their text: a string value as is,
  anything else as compact JSON.
* ``$${`` stands for a literal ``${``.
* Names are ``[A-Za-z_][A-Za-z0-9_.]*``; an unknown name is a harness error (a bad case).

Substitution descends into lists and object values (not object keys).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from .outcome import HarnessError

__all__ = ["Variables", "substitute"]

_REF: Final = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_.]*)(?:([+-])([0-9]+))?\}")


class Variables:
    """The variables of one case run: a plain name -> JSON value map with helpers."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def set(self, name: str, value: Any) -> None:
        """Bind ``name`` (overwriting)."""
        self._values[name] = value

    def append(self, name: str, value: Any) -> None:
        """Append to the list ``name`` (created empty if unbound)."""
        current = self._values.setdefault(name, [])
        if not isinstance(current, list):
            raise HarnessError(f"variable {name!r} is not a list; cannot append to it")
        current.append(value)

    def capture(self, name: str, value: Any) -> None:
        """Bind for a matcher capture: a name ending in ``[]`` appends to a list."""
        if name.endswith("[]"):
            self.append(name[:-2], value)
        else:
            self.set(name, value)

    def get(self, name: str) -> Any:
        """The value of ``name``; raises HarnessError if unbound."""
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values)) or "none"
            raise HarnessError(f"unknown variable ${{{name}}} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def as_dict(self) -> dict[str, Any]:
        """A shallow copy of every binding."""
        return dict(self._values)


def _value(variables: Variables | Mapping[str, Any], name: str, op: str, amount: str) -> Any:
    if isinstance(variables, Variables):
        value = variables.get(name)
    elif name in variables:
        value = variables[name]
    else:
        raise HarnessError(f"unknown variable ${{{name}}}")
    if op:
        if type(value) is not int:
            raise HarnessError(f"${{{name}{op}{amount}}}: {name} is not an integer ({value!r})")
        value = value + int(amount) if op == "+" else value - int(amount)
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _substitute_string(text: str, variables: Variables | Mapping[str, Any]) -> Any:
    if "${" not in text:
        return text
    whole = _REF.fullmatch(text)
    if whole is not None and not whole.group(1):
        return _value(variables, whole.group(2), whole.group(3) or "", whole.group(4) or "")

    def replace(match: re.Match[str]) -> str:
        if match.group(1):  # "$${" escape: drop one "$", keep the rest literally
            return match.group(0)[1:]
        return _text(_value(variables, match.group(2), match.group(3) or "", match.group(4) or ""))

    return _REF.sub(replace, text)


def substitute(value: Any, variables: Variables | Mapping[str, Any]) -> Any:
    """Return ``value`` with every ``${...}`` reference replaced (a new structure)."""
    if isinstance(value, str):
        return _substitute_string(value, variables)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value
