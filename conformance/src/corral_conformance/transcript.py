"""The record of one case run, raw and normalised.

* The *raw* transcript lists, in arrival order and with millisecond offsets, everything that
  crossed a boundary: launch records, hello lines, messages and raw bytes in both directions,
  the runner's stdout/stderr lines, closes and exits. It is for humans debugging a failure
  (``--json`` output, the pytest report).
* The *normalised* transcript lists one record per executed step with what the step sent and
  the messages it consumed (in the order of the case's patterns, not of arrival), with
  volatile values replaced by placeholders: the token, project paths, pids, ports, durations,
  tracebacks, runner versions, memory addresses and long strings. For a deterministic runner
  it is stable from run to run, so it can be snapshotted.
* Across many cases, the *standard handshake* (:func:`standard_handshake`) is the hello line
  and the ``initialize`` result most transcripts share; :func:`collapse_standard` replaces
  each occurrence by a one-word marker, so a set of snapshots pins it once and every
  transcript shows only what differs (a capability change is one diff, not one per case).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = [
    "STANDARD_HELLO",
    "STANDARD_INITIALIZE_RESULT",
    "Transcript",
    "collapse_standard",
    "normalise_value",
    "render",
    "standard_handshake",
]

STANDARD_HELLO: Final = "<standard hello>"
"""Marker of a hello equal to the standard one (see :func:`standard_handshake`)."""
STANDARD_INITIALIZE_RESULT: Final = "<standard initialize result>"
"""Marker of an ``initialize`` result equal to the standard one."""

_MAX_ENTRIES: Final = 3000
_RAW_STRING: Final = 2000
_NORMAL_STRING: Final = 300
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{6,}")
_VOLATILE_KEYS: Final = {"durationMs": "<ms>", "pid": "<pid>", "port": "<port>"}


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"<string of {len(text)} chars, sha256 {digest}...>"


def _truncate(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return _short(value, limit)
    if isinstance(value, list):
        return [_truncate(item, limit) for item in value]
    if isinstance(value, dict):
        return {key: _truncate(item, limit) for key, item in value.items()}
    return value


def _redact(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, str):
        for needle, placeholder in secrets.items():
            value = value.replace(needle, placeholder)
        return value
    if isinstance(value, list):
        return [_redact(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: _redact(item, secrets) for key, item in value.items()}
    return value


def normalise_value(value: Any, replacements: dict[str, str], key: str | None = None) -> Any:
    """Replace volatile parts of a JSON value (see the module docstring)."""
    if key in _VOLATILE_KEYS and type(value) in (int, float):
        return _VOLATILE_KEYS[key]
    if key in ("traceback", "stderrTail") and isinstance(value, str):
        return f"<{key}>"
    if key == "parentPid" and type(value) is int:
        return "<pid>"
    if isinstance(value, str):
        for needle, placeholder in replacements.items():
            if needle and needle in value:
                value = value.replace(needle, placeholder)
        value = _ADDRESS.sub("0x<addr>", value)
        return _short(value, _NORMAL_STRING)
    if isinstance(value, list):
        return [normalise_value(item, replacements) for item in value]
    if isinstance(value, dict):
        out = {k: normalise_value(v, replacements, k) for k, v in value.items()}
        if {"name", "version", "language"} <= value.keys() and isinstance(value["version"], str):
            out["version"] = "<version>"
        return out
    return value


class Transcript:
    """Collects the raw events and the per-step records of one case."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._entries: list[dict[str, Any]] = []
        self._dropped = 0
        self._steps: list[dict[str, Any]] = []
        self._replacements: dict[str, str] = {}

    def replace(self, text: str, placeholder: str) -> None:
        """Normalise every occurrence of ``text`` to ``placeholder``."""
        if text:
            self._replacements[text] = placeholder

    def event(self, kind: str, **data: Any) -> None:
        """Record one raw event (bounded)."""
        if len(self._entries) >= _MAX_ENTRIES:
            self._dropped += 1
            return
        ms = round((time.monotonic() - self._start) * 1000, 1)
        self._entries.append({"ms": ms, "kind": kind, **_truncate(data, _RAW_STRING)})

    def step(self, record: dict[str, Any]) -> None:
        """Record what one step did, for the normalised transcript."""
        self._steps.append(record)

    def raw(self) -> list[dict[str, Any]]:
        """The raw events, in order (plus a note if some were dropped).

        Secrets (the launch tokens) are redacted even here: a WM must not log the token.
        """
        secrets = {k: v for k, v in self._replacements.items() if v == "<token>"}
        entries = [_redact(entry, secrets) for entry in self._entries]
        if self._dropped:
            entries.append({"kind": "dropped", "count": self._dropped})
        return entries

    def normalised(self) -> list[dict[str, Any]]:
        """The normalised per-step records."""
        # Longest needles first so that a path is replaced before its prefix.
        ordered = dict(sorted(self._replacements.items(), key=lambda kv: -len(kv[0])))
        return [normalise_value(record, ordered) for record in self._steps]


def render(records: list[dict[str, Any]]) -> str:
    """One compact JSON line per record (text reports, snapshots)."""
    return "\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records)


def _most_common(values: list[Any]) -> Any:
    """The most frequent value (the first seen among equals), compared as canonical JSON."""
    counts = Counter(json.dumps(value, sort_keys=True) for value in values)
    best = counts.most_common(1)[0][0]
    return next(value for value in values if json.dumps(value, sort_keys=True) == best)


def standard_handshake(transcripts: Iterable[list[dict[str, Any]]]) -> dict[str, Any]:
    """``{marker: value}`` for the hello and the ``initialize`` result that most of the
    normalised ``transcripts`` share (a marker is absent if no transcript has that step)."""
    hellos: list[Any] = []
    results: list[Any] = []
    for records in transcripts:
        for record in records:
            if record.get("step") == "expectHello" and "hello" in record:
                hellos.append(record["hello"])
            got = record.get("got")
            if record.get("step") == "initialize" and isinstance(got, dict) and "result" in got:
                results.append(got["result"])
    standard: dict[str, Any] = {}
    if hellos:
        standard[STANDARD_HELLO] = _most_common(hellos)
    if results:
        standard[STANDARD_INITIALIZE_RESULT] = _most_common(results)
    return standard


def collapse_standard(value: Any, standard: Mapping[str, Any]) -> Any:
    """``value`` with every part equal to one of ``standard``'s values replaced by its
    marker (anywhere: a hello step, an ``initialize`` step, a hand-sent ``initialize``'s
    reply); parts that differ stay in full."""
    for marker, typical in standard.items():
        if type(value) is type(typical) and value == typical:
            return marker
    if isinstance(value, list):
        return [collapse_standard(item, standard) for item in value]
    if isinstance(value, dict):
        return {key: collapse_standard(item, standard) for key, item in value.items()}
    return value
