"""Colour in the CLI's text output: when to use it, and the few styles it uses.

:func:`color_enabled` decides, in this order (the order CPython 3.13 uses for its own
tracebacks, and what https://no-color.org and https://force-color.org ask for):

1. ``--color always`` / ``--color never``;
2. ``NO_COLOR`` set to anything but the empty string: off;
3. ``FORCE_COLOR`` set to anything but the empty string: on;
4. ``TERM=dumb``: off;
5. otherwise on when the stream is a terminal (so never in a pipe or a file).

:class:`Style` wraps text in ANSI SGR codes when enabled and returns it unchanged when not,
so rendering code is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TextIO

__all__ = ["COLOR_CHOICES", "ColorChoice", "Style", "color_enabled", "printable"]

ColorChoice = Literal["auto", "always", "never"]
COLOR_CHOICES: Final = ("auto", "always", "never")

_RESET: Final = "\x1b[0m"
_CODES: Final = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


_CONTROLS: Final = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F] if c != 0x09}
"""C0 controls and DEL (tab aside), shown escaped: text from tools and files (a message,
a file name, a line of a diff) must not move the cursor or recolour the terminal."""


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``), for one line of output."""
    return text.translate(_CONTROLS)


def color_enabled(choice: ColorChoice, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Whether text written to ``stream`` gets colour (see the module docstring)."""
    if choice != "auto":
        return choice == "always"
    if environ.get("NO_COLOR", ""):
        return False
    if environ.get("FORCE_COLOR", ""):
        return True
    if environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


@dataclass(frozen=True)
class Style:
    """ANSI styles, or plain text when ``enabled`` is false."""

    enabled: bool = False

    def __call__(self, text: str, *styles: str) -> str:
        """``text`` in ``styles`` (names of :data:`_CODES`: ``"bold"``, ``"red"``...)."""
        if not self.enabled or not styles or not text:
            return text
        codes = ";".join(_CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}{_RESET}"

    @staticmethod
    def severity(severity: str) -> str:
        """The colour of a diagnostic severity (a style name)."""
        colours = {"error": "red", "warning": "yellow", "information": "blue", "hint": "cyan"}
        return colours.get(severity, "yellow")
