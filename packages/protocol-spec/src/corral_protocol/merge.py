"""Combining results of handlers that ran together (SPEC.md §9.4), shared by WM and runner.

If every result is a JSON object: a deep merge in configuration order, where arrays under
the same key are concatenated, objects are merged recursively, and otherwise the later
value wins. Else: the list of results in order. No results at all: ``None``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["merge_results"]


def merge_results(results: list[Any]) -> Any:
    """Merge concurrent handlers' (or environments') results by the rule above."""
    if not results:
        return None
    plain = [msgspec.to_builtins(r) for r in results]
    if all(isinstance(r, dict) for r in plain):
        merged: dict[str, Any] = {}
        for result in plain:
            _merge_into(merged, result)
        return merged
    return plain


def _merge_into(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, list) and isinstance(value, list):
            target[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            _merge_into(merged, value)
            target[key] = merged
        else:
            target[key] = value
