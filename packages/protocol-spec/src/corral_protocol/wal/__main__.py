"""``python -m corral_protocol.wal``: see :mod:`corral_protocol.wal.cli`."""

from __future__ import annotations

import sys

from corral_protocol.wal.cli import main

if __name__ == "__main__":
    sys.exit(main())
