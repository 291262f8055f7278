"""``python -m corral_wal``: see :mod:`corral_wal.cli`."""

from __future__ import annotations

import sys

from corral_wal.cli import main

if __name__ == "__main__":
    sys.exit(main())
