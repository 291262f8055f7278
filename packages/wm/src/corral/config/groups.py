"""PEP 735 dependency groups: the requirements of the group named like an environment.

Contract of :meth:`DependencyGroups.resolve`: the group's requirement strings in order,
each ``{include-group = "other"}`` entry replaced by the other group's (recursively)
requirements, duplicates dropped (first one kept). Group names compare normalised (PEP 503:
case-insensitive, runs of ``-``, ``_``, ``.`` equal), as PEP 735 asks. Errors (a group that
is not an array, an entry that is neither a string nor an include, an include of a group
that does not exist, an include cycle, two names equal after normalisation) are
:class:`~corral.config.errors.ConfigError` s naming the entry. Only groups that are needed
are checked: a broken group that no environment uses is the packaging tool's business.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from corral.config._reader import Where
from corral.config.errors import child_key, describe, did_you_mean, index_key

TABLE_KEY = "dependency-groups"
_INCLUDE = "include-group"


def normalize_name(name: str) -> str:
    """A group (or package) name normalised per PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dedupe(requirements: list[str]) -> tuple[str, ...]:
    """Requirements in order with repeats removed (compared ignoring whitespace)."""
    seen: set[str] = set()
    result: list[str] = []
    for requirement in requirements:
        marker = "".join(requirement.split())
        if marker not in seen:
            seen.add(marker)
            result.append(requirement)
    return tuple(result)


class DependencyGroups(msgspec.Struct, frozen=True, kw_only=True):
    """The raw ``[dependency-groups]`` table of a ``pyproject.toml``."""

    table: dict[str, Any]
    where: Where

    def resolve(self, name: str) -> tuple[str, ...]:
        """The requirements of the group called ``name`` (normalised), () if there is none."""
        index = self._index()
        if normalize_name(name) not in index:
            return ()
        return dedupe(self._expand(index[normalize_name(name)], index, []))

    def _index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for name in self.table:
            normal = normalize_name(name)
            if normal in index:
                raise self.where.error(
                    child_key(TABLE_KEY, name),
                    found=f"a second group named {json.dumps(normal)} after normalisation",
                    expected="group names that are unique after PEP 503 normalisation",
                    hint=f"it clashes with {json.dumps(index[normal])}",
                )
            index[normal] = name
        return index

    def _expand(self, name: str, index: dict[str, str], stack: list[str]) -> list[str]:
        key = child_key(TABLE_KEY, name)
        entries = self.table[name]
        if not isinstance(entries, list):
            raise self.where.error(key, found=describe(entries), expected="an array")
        stack = [*stack, name]
        result: list[str] = []
        for i, entry in enumerate(entries):
            entry_key = index_key(key, i)
            if isinstance(entry, str):
                result.append(entry)
                continue
            if not isinstance(entry, dict) or set(entry) != {_INCLUDE}:
                raise self.where.error(
                    entry_key,
                    found=describe(entry),
                    expected='a requirement string or {include-group = "<group>"}',
                )
            include_key = child_key(entry_key, _INCLUDE)
            target = entry[_INCLUDE]
            if not isinstance(target, str) or normalize_name(target) not in index:
                hint = did_you_mean(target, index.values()) if isinstance(target, str) else None
                raise self.where.error(
                    include_key,
                    found=describe(target),
                    expected=f"the name of a group in [{TABLE_KEY}] "
                    f"({', '.join(index.values()) or 'there are none'})",
                    hint=hint,
                )
            included = index[normalize_name(target)]
            if included in stack:
                cycle = " -> ".join([*stack[stack.index(included) :], included])
                raise self.where.error(
                    include_key,
                    found=f"an include cycle ({cycle})",
                    expected="include-group entries that do not form a cycle",
                )
            result.extend(self._expand(included, index, stack))
        return result
