"""What an environment may be called (``[tool.corral.envs.NAME]``), defined once.

The configuration checks every env name (and every handler's ``env``) against
:data:`ENV_NAME` when it is loaded, so a bad name is a configuration error naming its key;
:mod:`corral.envs.paths` applies the same rule again before a name becomes a directory.
A name is one path component of letters, digits, ``.``, ``_`` and ``-`` that starts with a
letter or digit (so it can neither escape ``.corral/envs/`` nor look like a command-line
option), at most 100 characters, and nothing after it (not even a newline).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ENV_NAME", "ENV_NAME_EXPECTED", "is_env_name"]

ENV_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
"""Matches (with ``match``, anchored by ``\\Z``) exactly the valid names."""

ENV_NAME_EXPECTED: Final = (
    "an environment name: letters, digits, '.', '_' or '-', starting with a letter or digit, "
    "at most 100 characters"
)


def is_env_name(name: str) -> bool:
    """Whether ``name`` is a valid environment name."""
    return ENV_NAME.match(name) is not None
