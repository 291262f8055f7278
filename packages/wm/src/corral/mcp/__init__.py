"""``corral mcp``: the workspace's actions as tools for coding agents (Model Context
Protocol, stdio). See :mod:`corral.mcp.server`; the tools are in :mod:`corral.mcp.tools`.

The MCP SDK is an optional dependency (``pip install 'corral[mcp]'``): without it the
command says so and exits 2.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

__all__ = ["main"]

INSTALL_HINT = (
    "corral mcp needs the MCP SDK, which is not installed: pip install 'corral[mcp]' "
    "(or add `mcp` to the environment corral is installed in)"
)


def main(root: Path, *, served: bool, version: str) -> int:
    """Serve MCP on stdio for the workspace at ``root``; the exit status."""
    try:
        from .server import serve  # noqa: PLC0415  (the MCP SDK only for this command)
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith(("mcp", "mcp_types")):
            raise
        sys.stderr.write(f"corral: {INSTALL_HINT}\n")
        return 2
    from ..cli.link import WorkspaceLink  # noqa: PLC0415

    def notice(text: str) -> None:
        sys.stderr.write(f"corral: {text}\n")

    link = WorkspaceLink(
        root, served=served, version=version, notice=notice, client_name="corral-mcp"
    )
    try:
        asyncio.run(serve(link, version))
    except KeyboardInterrupt:
        return 130
    return 0
