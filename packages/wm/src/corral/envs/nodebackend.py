"""The ``node`` env backend: an npm package directory running the Node runner.

Layout (``<project>/.corral/envs/<name>/``)::

    package.json          written by corral at every build (its dependencies by npm)
    package-lock.json     npm's lock, kept across builds
    node_modules/         the env's npm packages and corral-runner-node
    .corral-stamp.json    inputs of the last successful build (see :mod:`corral.envs.stamp`)

:meth:`NodeBackend.build` (the env's cross-process lock held by the caller):

- delete the stamp; **create** (an empty directory) when there is none, ``recreate`` was
  asked, or the node or the stamp schema changed; otherwise update in place;
- write ``package.json`` without dependencies, then **install** with one ``npm install
  --save --install-links <deps...> corral-runner-node@file:<er-node>`` (npm keeps the
  lock, adds what is asked and removes what is no longer wanted; ``--install-links`` copies
  local packages, the Node runner included, instead of linking them). Dependencies are
  npm package specs; a relative path (``./x``, ``file:../x``) is relative to the project;
  Corral's own npm packages named by name (``corral-handlers-js``, as the ``corral-js``
  preset does) are installed from this checkout (:func:`~corral.envs.nodetool.own_npm_package`),
  never from the registry;
- **verify**: ``node <runner> --version`` from the env;
- write the stamp (its inputs: the dependencies, the node, the runner package's source
  fingerprint, fingerprints of local-directory dependencies).

The runner starts with ``<node> <env>/node_modules/corral-runner-node/bin/corral-runner.js
--modules <env>`` (``packages/er-node/README.md``, "Launching it").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corral.envkind import EnvKind
from corral.envs.backend import BuildJob, Built
from corral.envs.errors import EnvPrepareError, command_failure, what
from corral.envs.locking import LockOutcome
from corral.envs.nodetool import (
    NODE_RUNNER_NAME,
    OWN_NPM_PACKAGES,
    NodeMissingError,
    NodeTool,
    find_node,
    node_runner_package,
    own_npm_package,
)
from corral.envs.paths import env_dir
from corral.envs.pybackend import remove_env_dir
from corral.envs.request import EnvRequest
from corral.envs.source import source_fingerprint
from corral.envs.stamp import read_stamp, remove_stamp, write_stamp
from corral.envs.status import EnvStatus, format_command, problem_status, what_env
from corral.envs.uvtool import CommandResult, CommandTimeoutError, run_command

__all__ = ["NODE_SCHEMA", "NodeBackend", "NodeInputs", "runner_script"]

NODE_SCHEMA = 1
"""Bump when the way Node envs are built changes incompatibly: every one is recreated."""

_PATH_PREFIXES = ("./", "../", "/", ".\\", "..\\")


@dataclass(frozen=True)
class NodeInputs:
    """Everything a Node env's content depends on: the sorted npm specs, the node (path
    and version), the Node runner package's source fingerprint, ``<path>=<fingerprint>`` of
    local-directory dependencies, and :data:`NODE_SCHEMA`."""

    dependencies: tuple[str, ...]
    node: str
    node_version: str
    runner: str
    local_sources: tuple[str, ...] = ()
    kind: str = "node"
    schema: int = NODE_SCHEMA

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dependencies"] = list(self.dependencies)
        data["local_sources"] = list(self.local_sources)
        return data

    def digest(self) -> str:
        canonical = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def runner_script(request: EnvRequest) -> Path:
    """The Node runner's entry point inside the env."""
    return (
        env_dir(request.project, request.name)
        / "node_modules"
        / NODE_RUNNER_NAME
        / "bin"
        / "corral-runner.js"
    )


def own_package_name(spec: str) -> str | None:
    """The name of Corral's own npm package ``spec`` asks for by name (``corral-handlers-js``,
    ``corral-handlers-js@^0.1``), else None."""
    name = spec.split("@", 1)[0] if not spec.startswith("@") else spec
    return name if name in OWN_NPM_PACKAGES else None


def _local_path(request: EnvRequest, spec: str) -> Path | None:
    """The directory or file a path-like npm spec names (relative to the project; Corral's
    own packages named by name: their directory in the checkout), if any. Raises
    :class:`NodeMissingError` for one of Corral's own packages missing from the checkout."""
    own = own_package_name(spec)
    if own is not None:
        return own_npm_package(own)
    path = spec.removeprefix("file:")
    if path == spec and not path.startswith(_PATH_PREFIXES):
        return None
    return request.project / path


def npm_spec(request: EnvRequest, spec: str) -> str:
    """``spec`` with a relative path made absolute (npm runs in the env directory), and
    Corral's own packages as ``<name>@file:<checkout directory>``."""
    path = _local_path(request, spec)
    if path is None:
        return spec
    own = own_package_name(spec)
    if own is not None:
        return f"{own}@file:{path}"
    prefix = "file:" if spec.startswith("file:") else ""
    return f"{prefix}{path}"


def _changes(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    if stored.get("schema") != now["schema"] or stored.get("kind") != "node":
        return [f"stamp format changed (schema {stored.get('schema')} → {now['schema']})"]
    changes = []
    old_deps, new_deps = stored.get("dependencies"), now["dependencies"]
    if old_deps != new_deps:
        old = set(old_deps) if isinstance(old_deps, list) else set()
        delta = [f"+{d}" for d in sorted(set(new_deps) - old)]
        delta += [f"-{d}" for d in sorted(old - set(new_deps))]
        changes.append("dependencies changed" + (f" ({', '.join(delta)})" if delta else ""))
    if (stored.get("node"), stored.get("node_version")) != (now["node"], now["node_version"]):
        changes.append(
            f"node changed ({stored.get('node_version')} at {stored.get('node')} → "
            f"{now['node_version']} at {now['node']})"
        )
    if stored.get("runner") != now["runner"]:
        changes.append(f"the Node runner ({NODE_RUNNER_NAME}) changed")
    if stored.get("local_sources") != now["local_sources"]:
        changes.append("local package source changed")
    return changes


class NodeBackend:
    """The ``node`` backend (see the module doc). ``timeout``: deadline per npm command;
    ``check_timeout``: for starting the runner to verify it. Node is looked up once, on
    first use (:func:`~corral.envs.nodetool.find_node`)."""

    kind: EnvKind = "node"

    def __init__(self, *, timeout: float, check_timeout: float) -> None:
        self.timeout = timeout
        self.check_timeout = check_timeout
        self._tool: NodeTool | NodeMissingError | None = None

    def tool(self) -> NodeTool:
        """The node (and npm) in use; raises :class:`NodeMissingError` (cached)."""
        if self._tool is None:
            try:
                self._tool = find_node()
            except NodeMissingError as exc:
                self._tool = exc
        if isinstance(self._tool, NodeMissingError):
            raise self._tool
        return self._tool

    def inputs(
        self, request: EnvRequest, fingerprint: Callable[[Path], str] = source_fingerprint
    ) -> NodeInputs:
        """The current inputs; raises :class:`NodeMissingError`."""
        tool, runner = self.tool(), node_runner_package()
        local = []
        for dependency in sorted(set(request.dependencies)):
            path = _local_path(request, dependency)
            if path is not None and path.is_dir():
                local.append(f"{path}={fingerprint(path)}")
        return NodeInputs(
            dependencies=tuple(sorted(set(request.dependencies))),
            node=str(tool.node),
            node_version=tool.version,
            runner=f"{runner}={fingerprint(runner)}",
            local_sources=tuple(local),
        )

    # -- the interface ---------------------------------------------------------------

    def status(self, request: EnvRequest, fingerprint: Callable[[Path], str]) -> EnvStatus:
        try:
            inputs = self.inputs(request, fingerprint)
        except NodeMissingError as exc:
            return problem_status(request, "broken", f"cannot be built or run: {exc}")
        return self._status_for(request, inputs)

    def _status_for(self, request: EnvRequest, inputs: NodeInputs) -> EnvStatus:
        directory = env_dir(request.project, request.name)
        script = runner_script(request)
        if not directory.is_dir():
            return problem_status(request, "no_venv", f"does not exist yet ({directory})")
        if not script.is_file():
            return problem_status(request, "no_venv", f"has no Node runner ({script} is missing)")
        stamp = read_stamp(request)
        if stamp is None:
            return problem_status(
                request, "stale", "was not completely prepared (no valid .corral-stamp.json)"
            )
        if stamp.schema == inputs.schema and stamp.digest == inputs.digest():
            when = f"prepared {stamp.prepared_at}; " if stamp.prepared_at else ""
            return EnvStatus(
                "ready", f"{what_env(request)} is ready ({when}{self.describe(request)})"
            )
        changes = _changes(stamp.inputs, inputs.as_json()) or ["its inputs changed"]
        return problem_status(
            request, "stale", f"is out of date: {'; '.join(changes)}", changes=tuple(changes)
        )

    async def check(self, request: EnvRequest) -> EnvStatus:
        status = self.status(request, source_fingerprint)
        if status.state in ("no_venv", "broken"):
            return status
        problem = await self._verify(request)
        if problem is not None:
            return problem_status(request, "broken", f"is broken: {problem}")
        return status

    def runner_command(self, request: EnvRequest) -> list[str]:
        """``[<node>, <env>/node_modules/corral-runner-node/bin/corral-runner.js,
        "--modules", <env>]``, or the request's ``runner`` as given."""
        if request.runner is not None:
            return list(request.runner)
        try:
            node = str(self.tool().node)
        except NodeMissingError:  # the env's status says why; the start fails visibly
            node = "node"
        directory = env_dir(request.project, request.name)
        return [node, str(runner_script(request)), "--modules", str(directory)]

    def describe(self, request: EnvRequest) -> str:
        try:
            return f"runs on {self.tool().describe()}"
        except NodeMissingError as exc:
            return str(exc)

    def close(self) -> None:
        """Nothing to release."""

    async def lock(self, request: EnvRequest, *, upgrade: bool) -> LockOutcome:
        """Node envs keep npm's ``package-lock.json`` in the env, written by
        :meth:`build`: nothing to resolve here."""
        path = env_dir(request.project, request.name) / "package-lock.json"
        return LockOutcome(request, path, "unchanged")

    async def build(self, request: EnvRequest, job: BuildJob) -> Built:
        try:
            tool = self.tool()
            runner = node_runner_package()
            inputs = self.inputs(request)
        except NodeMissingError as exc:
            raise EnvPrepareError(f"{what(request)}: {exc}") from exc
        status = self._status_for(request, inputs)
        if not job.recreate and status.state == "ready":  # another process just did it
            return Built("unchanged")
        directory = env_dir(request.project, request.name)
        stamp = read_stamp(request)
        create = job.recreate or not directory.is_dir() or stamp is None
        if stamp is not None and not create:
            stored = stamp.inputs
            create = stamp.schema != inputs.schema or (
                stored.get("node"),
                stored.get("node_version"),
            ) != (inputs.node, inputs.node_version)
        remove_stamp(request)
        if create:
            job.emit("creating", f"creating the Node env ({tool.describe()})")
            await asyncio.to_thread(remove_env_dir, directory)
            directory.mkdir(parents=True)
        manifest = {
            "name": "corral-env",
            "private": True,
            "description": "A Corral Node env: written by `corral prepare-envs`, do not edit.",
            "dependencies": {},
        }
        (directory / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        specs = [npm_spec(request, spec) for spec in sorted(set(request.dependencies))]
        job.emit("installing", f"installing {len(specs)} npm package(s) and the Node runner")
        argv = [
            *tool.npm,
            "install",
            "--save",
            "--install-links",
            "--no-audit",
            "--no-fund",
            "--",
            *specs,
            f"{NODE_RUNNER_NAME}@file:{runner}",
        ]
        await self._npm(request, tool, "installing npm packages", argv)
        problem = await self._verify(request)
        if problem is not None:
            raise EnvPrepareError(
                f"{what(request)}: the installed environment does not work: {problem}"
            )
        write_stamp(
            request,
            inputs,
            python={"executable": str(tool.node), "version": tool.version},
            source=f"{NODE_RUNNER_NAME} from {runner}",
        )
        return Built("created" if create else "updated")

    # -- steps -----------------------------------------------------------------------

    async def _npm(
        self, request: EnvRequest, tool: NodeTool, step: str, argv: list[str]
    ) -> CommandResult:
        directory = env_dir(request.project, request.name)
        try:
            result = await run_command(
                argv, cwd=directory, env=tool.environment(), timeout=self.timeout
            )
        except CommandTimeoutError as exc:
            raise EnvPrepareError(
                command_failure(request, step, exc.result, f"timed out after {exc.timeout:g} s")
            ) from exc
        except OSError as exc:
            raise EnvPrepareError(
                f"{what(request)}: {step} failed: cannot run {argv[0]}: {exc}\n"
                f"command: {format_command(argv)}"
            ) from exc
        if result.returncode != 0:
            raise EnvPrepareError(
                command_failure(request, step, result, f"exit status {result.returncode}")
            )
        return result

    async def _verify(self, request: EnvRequest) -> str | None:
        """Start the env's runner with ``--version``: None when it answers, else why not."""
        try:
            tool = self.tool()
        except NodeMissingError as exc:
            return str(exc)
        argv = [str(tool.node), str(runner_script(request)), "--version"]
        try:
            result = await run_command(
                argv, cwd=request.project, env=tool.environment(), timeout=self.check_timeout
            )
        except CommandTimeoutError:
            return f"{format_command(argv)} did not answer within {self.check_timeout:g} s"
        except OSError as exc:
            return f"cannot start {tool.node}: {exc}"
        if result.returncode != 0:
            last = result.tail(1) or "no output"
            return f"{format_command(argv)} exited {result.returncode}: {last}"
        return None
