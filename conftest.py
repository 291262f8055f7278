"""Test-session settings for the whole repository.

Commands started by tests run their Workspace Manager embedded (``CORRAL_SERVER=0``)
unless a test asks for the server; and every per-user runtime file (server records,
sockets, logs) goes to a directory of this test session, never the user's.
"""

from __future__ import annotations

import os
import tempfile

os.environ["CORRAL_SERVER"] = "0"
os.environ.setdefault("CORRAL_RUNTIME_DIR", tempfile.mkdtemp(prefix="corral-test-runtime-"))
