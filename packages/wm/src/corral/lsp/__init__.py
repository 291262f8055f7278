"""``corral lsp``: the Language Server Protocol front end (see :mod:`corral.lsp.server`).

Imports pygls only when the language server runs (``corral lsp``), never on other commands.
"""

from __future__ import annotations

__all__ = ["main"]


def main(*, served: bool, version: str, tcp: int | None = None) -> int:
    """Run the language server (stdio, or ``tcp`` on 127.0.0.1) until the client exits."""
    from .server import serve  # noqa: PLC0415

    return serve(served=served, version=version, tcp=tcp)
