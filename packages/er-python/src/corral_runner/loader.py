"""Loading handlers named by ``runner/configure`` (SPEC.md §8).

Sources:

* ``package.module:attribute`` (the attribute may be dotted) - imported from the runner's
  environment; the project directory is on ``sys.path`` too, after the environment.
* ``entrypoint:NAME`` - the entry point ``NAME`` of group ``corral.handlers``.
* ``conformance/NAME`` - a conformance fixture, only when the launch record enabled them.

A load failure (bad source, missing module, exception at import, not callable) becomes a
``failed`` status with the exception's type, message and traceback; it never propagates.
Configuring again re-imports every module whose file changed since it was loaded, so edited
handler code takes effect without a restart (hot reload).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import logging
import sys
import traceback
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from corral_protocol.messages import ActionMode, ConfigureParams, ErrorDetail, HandlerLoadStatus

from .sdk import ActionContext

__all__ = [
    "ConformanceDisabled",
    "HandlerLoadError",
    "HandlerLoader",
    "LoadedAction",
    "LoadedHandler",
    "UnknownFixture",
    "UnsupportedSource",
    "error_detail",
]

ENTRY_POINT_GROUP: Final = "corral.handlers"
ENTRY_POINT_PREFIX: Final = "entrypoint:"
FIXTURE_PREFIX: Final = "conformance/"


class HandlerLoadError(Exception):
    """A handler source could not be turned into a callable."""


# The subclasses' names are the ErrorDetail types SPEC.md §9.3 defines.
class UnsupportedSource(HandlerLoadError):  # noqa: N818
    """The source matches none of the forms this runner supports."""


class ConformanceDisabled(HandlerLoadError):  # noqa: N818
    """A ``conformance/`` source while the launch record did not enable fixtures."""


class UnknownFixture(HandlerLoadError):  # noqa: N818
    """A ``conformance/`` source naming no fixture."""


@dataclass(frozen=True, slots=True)
class LoadedHandler:
    """A configured handler: the callable, or the error that kept it from loading."""

    name: str
    source: str
    config: dict[str, Any]
    function: Callable[..., Any] | None
    is_async: bool = False
    params_type: Any = Any
    error: ErrorDetail | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("corral.handler"))
    state: dict[str, Any] = field(default_factory=dict)
    """What the handler keeps between runs (:attr:`ActionContext.state`); a new
    configuration makes new :class:`LoadedHandler` objects, so it starts empty again."""


@dataclass(frozen=True, slots=True)
class LoadedAction:
    """An action's handlers in configuration order, and how they combine."""

    name: str
    mode: ActionMode
    handlers: tuple[LoadedHandler, ...]


def error_detail(exc: BaseException) -> ErrorDetail:
    """An exception as the protocol's ErrorDetail: class name, message, traceback.

    The type is the bare class name (``ValueError``), which reads the same from any runner
    language; the traceback text carries the module path.
    """
    return ErrorDetail(
        type=type(exc).__qualname__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


def params_type_of(function: Callable[..., Any]) -> Any:
    """The ``P`` of a handler's ``ActionContext[P]`` annotation, or ``Any``."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return Any
    try:
        first = next(iter(inspect.signature(function).parameters))
    except (StopIteration, ValueError, TypeError):
        return Any
    hint = hints.get(first)
    if typing.get_origin(hint) is ActionContext:
        (arg,) = typing.get_args(hint)
        return arg
    return Any


@dataclass
class HandlerLoader:
    """Turns configure params into loaded actions; remembers module files for hot reload."""

    project: Path
    fixtures: Mapping[str, Callable[..., Any]]
    conformance: bool
    _stamps: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        project = str(self.project)
        if project not in sys.path:
            sys.path.append(project)

    def configure(
        self, params: ConfigureParams
    ) -> tuple[dict[str, LoadedAction], list[HandlerLoadStatus]]:
        """Load every handler of ``params``; return the actions and one status per handler."""
        actions, statuses = self._configure(params)
        for name, action in actions.items():
            handlers = tuple(
                replace(h, logger=logging.getLogger(f"corral.handler.{name}.{h.name}"))
                for h in action.handlers
            )
            actions[name] = replace(action, handlers=handlers)
        return actions, statuses

    def _configure(
        self, params: ConfigureParams
    ) -> tuple[dict[str, LoadedAction], list[HandlerLoadStatus]]:
        """Load every handler of ``params``; return the actions and one status per handler."""
        importlib.invalidate_caches()
        self._reload_changed_modules()
        actions: dict[str, LoadedAction] = {}
        statuses: list[HandlerLoadStatus] = []
        for action_name, action in params.actions.items():
            loaded = []
            for spec in action.handlers:
                handler = self._load(spec.name, spec.source, spec.config)
                loaded.append(handler)
                statuses.append(
                    HandlerLoadStatus(
                        action=action_name,
                        name=spec.name,
                        status="failed" if handler.error else "loaded",
                        error=handler.error,
                    )
                )
            actions[action_name] = LoadedAction(action_name, action.mode, tuple(loaded))
        return actions, statuses

    def _load(self, name: str, source: str, config: dict[str, Any]) -> LoadedHandler:
        try:
            function = self._resolve(source)
        except BaseException as exc:  # SystemExit at import too: a load error is never fatal
            return LoadedHandler(name, source, config, None, error=error_detail(exc))
        if not callable(function):
            error = HandlerLoadError(f"{source} is a {type(function).__name__}, not a callable")
            return LoadedHandler(name, source, config, None, error=error_detail(error))
        is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004
        )
        return LoadedHandler(
            name, source, config, function, is_async=is_async, params_type=params_type_of(function)
        )

    def _resolve(self, source: str) -> Any:
        if source.startswith(FIXTURE_PREFIX):
            fixture = source.removeprefix(FIXTURE_PREFIX)
            if not self.conformance:
                raise ConformanceDisabled(
                    f"{source}: conformance fixtures are served only when the launch record "
                    'says "conformance": true'
                )
            if fixture not in self.fixtures:
                raise UnknownFixture(
                    f"{source}: no such conformance fixture (known: {', '.join(self.fixtures)})"
                )
            return self.fixtures[fixture]
        if source.startswith(ENTRY_POINT_PREFIX):
            from importlib import metadata  # noqa: PLC0415  (slow: only for entry points)

            name = source.removeprefix(ENTRY_POINT_PREFIX)
            found = metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
            if not found:
                raise HandlerLoadError(
                    f"{source}: no entry point {name!r} in group {ENTRY_POINT_GROUP!r} "
                    "(is the package that provides it installed in this environment?)"
                )
            return next(iter(found)).load()
        module_name, sep, attribute = source.partition(":")
        if not sep or not module_name or not attribute:
            raise UnsupportedSource(
                f"invalid handler source {source!r}: expected 'package.module:attribute', "
                "'entrypoint:NAME' or 'conformance/NAME'"
            )
        module = importlib.import_module(module_name)
        self._remember(module)
        value: Any = module
        for part in attribute.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                raise HandlerLoadError(
                    f"{source}: module {module_name!r} has no attribute {attribute!r}"
                ) from None
        return value

    def _remember(self, module: types.ModuleType) -> None:
        stamp = _stamp(module)
        if stamp is not None:
            self._stamps.setdefault(module.__name__, stamp)

    def _reload_changed_modules(self) -> None:
        for name, stamp in list(self._stamps.items()):
            module = sys.modules.get(name)
            if module is None:
                del self._stamps[name]
                continue
            current = _stamp(module)
            if current is not None and current != stamp:
                _drop_bytecode(module)
                try:
                    importlib.reload(module)
                except BaseException:
                    sys.modules.pop(name, None)
                    del self._stamps[name]
                    continue
                self._stamps[name] = current


def _drop_bytecode(module: types.ModuleType) -> None:
    """Delete a module's cached .pyc: CPython validates it by whole-second mtime and size,
    so an edit within the same second could otherwise reload stale bytecode."""
    path = getattr(module, "__file__", None)
    if path is None or not path.endswith(".py"):
        return
    with contextlib.suppress(OSError, NotImplementedError, ValueError):
        Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)


def _stamp(module: types.ModuleType) -> tuple[int, int] | None:
    path = getattr(module, "__file__", None)
    if path is None:
        return None
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)
