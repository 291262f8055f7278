"""The standard params of the lint/format family (SPEC.md §13.7), and refusing those a
handler does not support.

Every handler of this package takes a subclass of :class:`StandardParams`, which knows every
standard member (``paths``, ``write``, ``fix``, ``unsafeFixes``, ``diff``, ``documents``,
``only``) so that one given to a handler that does not support it is *seen*: the handler
then fails with :class:`UnsupportedParam` instead of ignoring it (a ``fix`` that silently
fixes nothing is a wrong answer). Members that are not standard are ignored, as msgspec
does: handlers that run together in one action share the params, and another handler may
take them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from corral_runner.sdk import ActionContext, Document
from msgspec import UNSET, UnsetType

from .tools import PathList

__all__ = ["StandardParams", "UnsupportedParam"]


class UnsupportedParam(Exception):  # noqa: N818  (the name is the error type front ends see)
    """A standard param the handler does not support, or a combination it cannot honour.
    Front ends treat this error type as a usage error (exit 2 in the CLI)."""


class StandardParams(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Every standard member; a subclass redeclares (with a default) those it supports and
    lists their wire names in :attr:`SUPPORTED`."""

    SUPPORTED: ClassVar[frozenset[str]] = frozenset({"paths"})

    paths: PathList | None = None
    """Files or directories to act on, absolute or relative to the project; absent: the
    whole project as the tool's configuration selects it."""
    write: bool | UnsetType = UNSET
    fix: bool | UnsetType = UNSET
    unsafe_fixes: bool | UnsetType = UNSET
    diff: bool | UnsetType = UNSET
    documents: list[Document] | UnsetType | None = UNSET
    """Unsaved documents to act on instead of the files on disk (SPEC.md §13.8)."""
    only: list[str] | UnsetType | None = UNSET

    def refuse_unsupported(self, ctx: ActionContext[Any]) -> None:
        """Raise :class:`UnsupportedParam` if a standard member this handler does not
        support was given (with any value)."""
        given = [
            field.encode_name
            for field in msgspec.structs.fields(self)
            if field.encode_name not in self.SUPPORTED and getattr(self, field.name) is not UNSET
        ]
        if given:
            names = ", ".join(f"`{name}`" for name in given)
            takes = ", ".join(sorted(self.SUPPORTED))
            raise UnsupportedParam(
                f"handler {ctx.handler!r} of action {ctx.action!r} does not support "
                f"{names} (it takes: {takes})"
            )
