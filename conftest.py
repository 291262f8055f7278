"""Test-session settings for the whole repository.

Commands started by tests run their Workspace Manager embedded (``CORRAL_SERVER=0``)
unless a test asks for the server; every per-user runtime file (server records, sockets,
logs) goes to a directory of this test session, never the user's; and the WM's result
cache is off (``CORRAL_RESULT_CACHE=0``) unless a test turns it on: whether a run is
answered from it depends on how long ago the test wrote its files (the cache's settle
rule), and the tests of everything else must not depend on the clock. The cache's own
tests (packages/wm/tests/test_resultcache.py, tests/test_e2e_result_cache.py) turn it on.
"""

from __future__ import annotations

import os
import tempfile

os.environ["CORRAL_SERVER"] = "0"
os.environ.setdefault("CORRAL_RUNTIME_DIR", tempfile.mkdtemp(prefix="corral-test-runtime-"))
os.environ["CORRAL_RESULT_CACHE"] = "0"
