"""The ``run`` command's options for fixing and output.

:func:`add_run_options` declares them; :func:`option_params` turns them into the standard
params of SPEC.md §13.7 (``fix``, ``unsafeFixes``, ``diff``), which win over the same keys
given with ``-p``; :func:`render_options` into :class:`~corral.cli.render.RenderOptions`.
Which files ``--changed``/``--staged`` select is :mod:`corral.cli.changed`'s business.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from .render import RenderOptions
from .style import COLOR_CHOICES, Style, color_enabled

__all__ = ["OptionError", "add_run_options", "checked_params", "option_params", "render_options"]


class OptionError(Exception):
    """Options that do not go together; the message says which and what to do."""


def add_run_options(run: argparse.ArgumentParser) -> None:
    """Add the fixing and output options to the ``run`` parser."""
    fixing = run.add_argument_group("fixing")
    fixing.add_argument(
        "--fix", action="store_true", help="apply the tools' safe fixes in place (lint)"
    )
    fixing.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="with --fix: apply fixes that may change the code's meaning too",
    )
    output = run.add_argument_group("output")
    output.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="colour the text output (auto: on a terminal, unless NO_COLOR is set; "
        "FORCE_COLOR forces it)",
    )
    output.add_argument(
        "--show-urls", action="store_true", help="print each finding's rule documentation URL"
    )
    output.add_argument(
        "--diff",
        action="store_true",
        help="show what formatting would change as a unified diff (check-format, format)",
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every note the tools printed (by default: warnings, at most 10)",
    )


def option_params(args: argparse.Namespace) -> dict[str, Any]:
    """The standard params the options ask for; :class:`OptionError` if they conflict."""
    if args.unsafe_fixes and not args.fix:
        raise OptionError("--unsafe-fixes applies fixes only with --fix: add --fix")
    params: dict[str, Any] = {}
    if args.fix:
        params["fix"] = True
    if args.unsafe_fixes:
        params["unsafeFixes"] = True
    if args.diff:
        if args.fix:
            raise OptionError("--diff shows what formatting would change; --fix changes files")
        params["diff"] = True
    return params


def checked_params(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`option_params`, or a usage error as argparse reports one: the message on
    stderr and ``SystemExit(2)``."""
    try:
        return option_params(args)
    except OptionError as exc:
        sys.stderr.write(f"corral: error: {exc}\n")
        raise SystemExit(2) from None


def render_options(
    args: argparse.Namespace, stream: TextIO, environ: Mapping[str, str] | None = None
) -> RenderOptions:
    """How to print the text output of ``run`` on ``stream``."""
    environ = os.environ if environ is None else environ
    return RenderOptions(
        style=Style(color_enabled(args.color, stream, environ)),
        show_urls=args.show_urls,
        diff=args.diff,
        verbose=args.verbose,
    )
