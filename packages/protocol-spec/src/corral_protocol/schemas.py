"""Locate and load the JSON Schemas of the Corral protocols.

Two protocols, two directories: the runner protocol (WM ↔ runner, SPEC.md Part I) in
``schemas/``, ``$id`` base :data:`SCHEMA_BASE_URI`; the client protocol (front ends ↔ the WM
server, SPEC.md Part II) in ``schemas/client/``, ``$id`` base :data:`CLIENT_SCHEMA_BASE_URI`,
whose schemas reuse runner ones by absolute ``$ref``. Functions take ``protocol="runner"``
(the default) or ``protocol="client"``.

The schemas (JSON Schema draft 2020-12) are the source of truth of the protocols; SPEC.md is
their prose companion. This module only reads them: it needs nothing but the standard library.
:func:`schema_registry` needs the ``referencing`` distribution (it comes with ``jsonschema``),
which is *not* a runtime dependency of ``corral-protocol`` (keep pure-Python schema validation
out of hot paths): it is imported lazily, inside that function, and a clear
:class:`ImportError` is raised when it is missing. Typical use in tests or tooling::

    from jsonschema import Draft202012Validator
    validator = Draft202012Validator(load_schema("run-result"), registry=schema_registry())
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import referencing

__all__ = [
    "CLIENT_SCHEMA_BASE_URI",
    "SCHEMA_BASE_URI",
    "Protocol",
    "load_index",
    "load_schema",
    "schema_dir",
    "schema_names",
    "schema_registry",
]

#: Base URI of every schema's ``$id``: ``SCHEMA_BASE_URI + "<file name>"``.
SCHEMA_BASE_URI = "https://corral.dev/schemas/1.0/"
#: Base URI of every client protocol schema's ``$id`` (``schemas/client/<file name>``).
CLIENT_SCHEMA_BASE_URI = "https://corral.dev/schemas/client/1.0/"

Protocol = Literal["runner", "client"]
"""Which protocol's schemas: the runner protocol's or the client protocol's."""

_CLIENT_DIR = "client"

_INDEX_FILE = "index.json"


def schema_dir() -> pathlib.Path:
    """Return the directory that holds the schema files.

    A built wheel ships them as ``corral_protocol/_schemas`` next to this module; that
    directory wins when it exists and holds ``index.json``. Otherwise (a source checkout or an
    editable install) the source tree's ``packages/protocol-spec/schemas`` is used.

    Raises:
        FileNotFoundError: neither location holds the schemas.
    """
    packaged = pathlib.Path(__file__).parent / "_schemas"
    if (packaged / _INDEX_FILE).is_file():
        return packaged
    source = pathlib.Path(__file__).resolve().parents[2] / "schemas"
    if source.is_dir():
        return source
    raise FileNotFoundError(f"corral-protocol schemas not found: looked in {packaged} and {source}")


def _directory(protocol: Protocol) -> pathlib.Path:
    """The directory of ``protocol``'s schema files."""
    if protocol == "runner":
        return schema_dir()
    if protocol == "client":
        return schema_dir() / _CLIENT_DIR
    raise ValueError(f"no such protocol: {protocol!r} (expected 'runner' or 'client')")


def schema_names(protocol: Protocol = "runner") -> list[str]:
    """Return the file names of every JSON file of ``protocol``'s schemas, sorted.

    This includes ``common.json``, ``index.json`` and ``index.schema.json``.
    """
    return sorted(path.name for path in _directory(protocol).glob("*.json"))


def _file_name(name: str) -> str:
    """Normalise ``"run-result"`` or ``"run-result.json"`` to a bare file name.

    Raises:
        ValueError: the name contains a path separator or is otherwise not a plain file name.
    """
    file_name = name if name.endswith(".json") else f"{name}.json"
    if file_name != pathlib.PurePath(file_name).name or file_name.startswith("."):
        raise ValueError(f"not a schema file name: {name!r}")
    if "\\" in file_name:
        raise ValueError(f"not a schema file name: {name!r}")
    return file_name


@functools.cache
def _read_text(directory: pathlib.Path, file_name: str) -> str:
    """Read one schema file once (the text is immutable, so caching it is safe)."""
    return (directory / file_name).read_text(encoding="utf-8")


def load_schema(name: str, protocol: Protocol = "runner") -> dict[str, Any]:
    """Load one of ``protocol``'s schemas by file name, with or without ``.json``
    (``"run-result"``; ``load_schema("run-report", "client")``).

    Every call returns a fresh ``dict``: callers may mutate it freely.

    Raises:
        ValueError: ``name`` is not a plain file name.
        TypeError: the file does not hold a JSON object.
        FileNotFoundError: no such schema file.
    """
    file_name = _file_name(name)
    document = json.loads(_read_text(_directory(protocol), file_name))
    if not isinstance(document, dict):
        raise TypeError(f"{file_name} does not hold a JSON object")
    return document


def load_index(protocol: Protocol = "runner") -> dict[str, Any]:
    """Load ``protocol``'s ``index.json``, its meta model.

    It lists every method (direction, kind, params/result schema, since-version, error
    codes), every structure with its schema file, and every error code. Its own format is
    described by ``index.schema.json`` (of the same directory). A client method's params or
    result may be a runner protocol schema, named by its absolute ``$id``.
    """
    return load_schema(_INDEX_FILE, protocol)


@functools.cache
def schema_registry() -> referencing.Registry[Any]:
    """Return a ``referencing.Registry`` holding every schema of both protocols under its
    ``$id``.

    Relative references such as ``"common.json#/$defs/RequestId"`` resolve through it, and
    so do the client schemas' absolute references to runner schemas. The ``index.json``
    files are not schemas and are not included. The registry is immutable and cached.

    ``referencing`` is imported lazily here because it is not a runtime dependency of
    ``corral-protocol``; install ``jsonschema`` (which brings it) to use this function.

    Raises:
        ImportError: ``referencing`` is not installed.
    """
    try:
        from referencing import Registry  # noqa: PLC0415 - optional dependency, lazy
        from referencing.jsonschema import DRAFT202012  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "schema_registry() needs the 'referencing' package (pip install jsonschema)"
        ) from exc
    resources = []
    protocols: tuple[Protocol, ...] = ("runner", "client")
    for protocol in protocols:
        for file_name in schema_names(protocol):
            if file_name == _INDEX_FILE:
                continue
            document = load_schema(file_name, protocol)
            resources.append((document["$id"], DRAFT202012.create_resource(document)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry.crawl()
