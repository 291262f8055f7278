"""Read TOML files and text, turning every failure into a :class:`ConfigError`.

Syntax errors carry the 1-based line and column that tomllib reports (its "at end of
document" becomes the position just past the last character). Unreadable files and text
that is not UTF-8 are errors too, with an empty key.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from corral.config._reader import Where
from corral.config.errors import ConfigError

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def parse_toml(text: str, where: Where) -> dict[str, Any]:
    """The parsed document, or a ConfigError with the syntax error's position."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(str(error), text, where) from None
    except RecursionError:  # tomllib parses nested inline tables and arrays recursively
        raise ConfigError(
            where.file,
            "",
            found="tables or arrays nested too deeply to parse",
            expected="TOML nested at most a few hundred levels",
            display=where.display,
            preset=where.preset,
        ) from None


def read_toml(where: Where) -> dict[str, Any]:
    """The parsed content of ``where.file`` (UTF-8 TOML)."""
    try:
        text = where.file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise where.error(
            "", found=f"bytes that are not UTF-8 ({error.reason})", expected="a UTF-8 text file"
        ) from None
    except OSError as error:
        raise where.error(
            "", found=f"an unreadable file ({error.strerror or error})", expected="a readable file"
        ) from None
    return parse_toml(text, where)


def _syntax_error(message: str, text: str, where: Where) -> ConfigError:
    line: int | None = None
    column: int | None = None
    if match := _POSITION.search(message):
        line, column = int(match[1]), int(match[2])
        message = message[: match.start()]
    elif match := _AT_END.search(message):
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        message = message[: match.start()]
    reason = message[:1].lower() + message[1:]
    return ConfigError(
        where.file,
        "",
        found=f"a syntax error ({reason})",
        expected="valid TOML",
        display=where.display,
        preset=where.preset,
        line=line,
        column=column,
    )
