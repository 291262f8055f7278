"""Copying the example workspace (examples/workspace/) in tests.

Its ``web/`` project is JavaScript (a Node env built with npm: ESLint and Prettier from the
registry). Tests about Python projects, the server, the LSP or the MCP front end copy the
example without it (:data:`PYTHON_ONLY`), so they neither need the npm registry nor pay
for a Node env; ``tests/test_e2e_cli.py`` (the README's command) and
``tests/test_e2e_js.py`` copy all of it.
"""

from __future__ import annotations

import shutil

__all__ = ["PYTHON_ONLY", "WITH_WEB"]

WITH_WEB = shutil.ignore_patterns(".corral")
"""``copytree`` ignore: the whole example, without its local state."""
PYTHON_ONLY = shutil.ignore_patterns(".corral", "web")
"""``copytree`` ignore: the example's Python projects only (``app/``, ``lib/``)."""
