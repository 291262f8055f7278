"""``python -m corral_conformance.testrunner [--break VARIANT]... [--list]``."""

from __future__ import annotations

import argparse
import sys

from .server import main as serve
from .variants import VARIANTS, Breaks


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run (or list the variants)."""
    parser = argparse.ArgumentParser(prog="python -m corral_conformance.testrunner")
    parser.add_argument(
        "--break",
        dest="breaks",
        action="append",
        default=[],
        metavar="VARIANT",
        help="break one protocol rule (repeatable); see --list",
    )
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, rule in VARIANTS.items():
            print(f"{name:32} {rule}")
        return 0
    try:
        breaks = Breaks(args.breaks)
    except ValueError as exc:
        parser.error(str(exc))
    return serve(breaks)


if __name__ == "__main__":
    sys.exit(main())
