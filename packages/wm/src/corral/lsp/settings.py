"""The language server's settings: initialization options and ``workspace/didChangeConfiguration``.

Both carry the same object (optionally under a ``corral`` key); every member is optional:

* ``debounce`` (``250``): milliseconds after the last change before the buffer is checked.
* ``onChange`` (``["lint"]``): actions run on the buffer's text (unsaved included) on open
  and change; they get the ``documents`` param (SPEC.md §13.8).
* ``onSave`` (``["type-check"]``): actions run on the saved file (``paths``) on open and save.
* ``fixAction`` (``"lint"``): the action behind quick fixes, ``source.fixAll.corral`` and
  ``source.organizeImports.corral``.
* ``formatAction`` (``"format"``): the action behind ``textDocument/formatting``.
* ``severity`` (``{}``): severity overrides, a rule code or a tool name ->
  ``error``/``warning``/``information``/``hint`` (the code wins).
* ``pushDiagnostics`` (``"auto"``): ``true``: publish; ``false``: only answer pulls;
  ``"auto"``: publish unless the client pulls.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["Settings", "SettingsError", "parse_settings"]


class SettingsError(ValueError):
    """Settings the language server cannot use (the message names the member)."""


class Settings(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True
):
    """See the module docstring."""

    debounce: int = msgspec.field(default=250)
    on_change: list[str] = msgspec.field(default_factory=lambda: ["lint"])
    on_save: list[str] = msgspec.field(default_factory=lambda: ["type-check"])
    fix_action: str = "lint"
    format_action: str = "format"
    severity: dict[str, Literal["error", "warning", "information", "hint"]] = msgspec.field(
        default_factory=dict
    )
    push_diagnostics: bool | Literal["auto"] = "auto"


def parse_settings(value: Any) -> Settings:
    """Settings from initialization options or a configuration change (``None``: the
    defaults; a ``corral`` member is looked into). Raises :class:`SettingsError`."""
    if isinstance(value, dict) and isinstance(value.get("corral"), dict):
        value = value["corral"]
    if value is None or value == {}:
        return Settings()
    try:
        settings = msgspec.convert(value, Settings)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"Corral language server settings: {exc}") from None
    if settings.debounce < 0:
        raise SettingsError("Corral language server settings: `debounce` must be >= 0 (ms)")
    return settings
