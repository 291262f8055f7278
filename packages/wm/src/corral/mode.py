"""Whether a command uses the workspace's server or runs the Workspace Manager embedded.

Standard library only: the entry point decides before it imports anything else (a command
that runs embedded may start a fork server early, :mod:`corral.forkhint`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["flag_from_argv", "server_wanted"]


def server_wanted(flag: bool | None, environ: Mapping[str, str]) -> bool:
    """``--server``/``--no-server`` (``flag``) win; else ``CORRAL_SERVER`` (1/0, true/false,
    yes/no, on/off); else embedded when ``CI`` is set (no daemon left on a CI machine), a
    server otherwise."""
    if flag is not None:
        return flag
    setting = environ.get("CORRAL_SERVER", "").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return False
    if setting in ("1", "true", "yes", "on"):
        return True
    return not environ.get("CI")


def flag_from_argv(argv: Sequence[str]) -> bool | None:
    """``--server``/``--no-server`` as given before the command word (None: neither)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-C", "--root"):
            skip = True  # its value follows
        elif arg == "--server":
            return True
        elif arg == "--no-server":
            return False
        elif not arg.startswith("-"):
            break  # the command word: options after it are the command's
    return None
