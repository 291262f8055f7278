"""The fork server: start reference runners by forking a process that has already imported
the runner, instead of starting and importing a fresh interpreter each time (POSIX only).

A Python runner spends ~100 ms of CPU importing asyncio, msgspec and itself before it can
serve; a workspace of 20 projects pays that 20 times per cold command. The fork server
pays it once. Each runner it forks is still its own process serving one (project, env)
(ADR-0003) in that env's virtual environment: the child adopts the env the way the
interpreter's own start-up would (``sys.executable``, ``site`` processing of the env's
``site-packages`` and ``.pth`` files, ``sys.prefix``), then runs ``python -m corral_runner``'s
``main()`` on the stdin/stdout/stderr pipes the WM passed it. The runner protocol does not
change: the child reads its launch record and prints its hello like any runner.

Sharing is only sound when what the server already imported is what the env would import.
The server refuses (and the WM starts the runner the ordinary way) unless the env:

* was made from the same base interpreter (``home``, ``version_info``, ``implementation``
  and ``include-system-site-packages`` of ``pyvenv.cfg`` are equal), and
* has none of the top-level modules the server's imports looked for and did not find
  (optional dependencies, such as ``typing_extensions`` for msgspec: an env that has one
  would have imported it), and
* has the same ``RECORD`` entries (path, SHA-256, size) for the ``site-packages`` files of
  every distribution a preloaded module came from, and identical bytes for any preloaded
  module file that no ``RECORD`` lists.

Control protocol (private to the WM and this module; both ship together):

* started as ``<env python> -c <program> <control fd>`` in the env's directory, the
  program calling :func:`serve`;
* requests arrive on the control socket (``AF_UNIX``/``SOCK_SEQPACKET``): one JSON object
  ``{"python": ..., "cwd": ...}`` per message with three file descriptors attached (the
  child's stdin, stdout, stderr);
* answers are JSON lines on the server's stdout: ``{"ready": pid}`` once, then per request
  ``{"spawned": pid}`` or ``{"refused": reason}``, and ``{"exited": pid, "code": n}``
  (negative: killed by signal ``-n``) when a child ends;
* when the control socket closes (the WM retired the server, or is gone) the server takes
  no more requests and exits once its last child has ended. Its children watch the WM's
  pid (the launch record's ``parentPid``) like any runner, so they end with the WM.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import selectors
import signal
import site
import socket
import sys
import sysconfig
import threading
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["PRELOAD", "Template", "serve"]

PRELOAD: Final = ("corral_runner.launch", "corral_runner.server", "corral_runner.__main__")
"""Imported once by the server: everything a runner needs before its handlers load."""

VENV_KEYS: Final = ("home", "version_info", "implementation", "include-system-site-packages")
EXIT_CHILD_FAILED: Final = 70
MAX_REQUEST: Final = 65536


def _site_packages(prefix: str) -> str:
    """The purelib directory of the environment at ``prefix``."""
    return sysconfig.get_path("purelib", vars={"base": prefix, "platbase": prefix})


def _venv_config(prefix: str) -> dict[str, str]:
    """The ``pyvenv.cfg`` entries that decide which interpreter an env runs on."""
    try:
        text = (Path(prefix) / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return {}
    entries = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in VENV_KEYS:
            entries[key.strip()] = value.strip()
    return entries


def _records(site_dir: str) -> dict[str, set[str]]:
    """``{<name>.dist-info: files its RECORD lists}`` of ``site_dir``."""
    owners: dict[str, set[str]] = {}
    with contextlib.suppress(OSError), os.scandir(site_dir) as entries:
        for entry in entries:
            if not entry.name.endswith(".dist-info"):
                continue
            try:
                lines = Path(entry.path, "RECORD").read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            owners[entry.name] = {
                os.path.normpath(line.rsplit(",", 2)[0]) for line in lines if line
            }
    return owners


def _installed(record: Path) -> frozenset[str]:
    """The lines of a ``RECORD`` naming files inside ``site-packages`` (path, SHA-256,
    size). Scripts (``../../../bin/...``) are left out: their shebang names the env's own
    interpreter, so they differ between envs made from the same wheel."""
    lines = record.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith(".."))


class _Misses:
    """Last on ``sys.meta_path``: records top-level imports no other finder found (a meta
    path finder needs only ``find_spec``; importlib.abc costs ~12 ms to import)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if path is None:
            self.names.add(fullname)


def _provides(entry: str, module: str) -> bool:
    """Whether the ``site-packages`` entry named ``entry`` is top-level module ``module``
    (a package directory, ``module.py`` or an extension ``module.<tag>.so``)."""
    if entry == module:
        return True
    stem, dot, suffix = entry.partition(".")
    return bool(dot) and stem == module and suffix.endswith(("py", "so", "pyd"))


class Template:
    """What the server preloaded, and the test an env must pass to be forked from it."""

    def __init__(self, prefix: str, loaded: Sequence[str], *, missing: Iterable[str] = ()) -> None:
        self.prefix = prefix
        self.missing = frozenset(missing)
        """Top-level modules the preload tried to import and did not find (optional
        dependencies): an env that has one would have imported it."""
        self.site_dir = _site_packages(prefix)
        self.venv = _venv_config(prefix)
        self.records: dict[str, frozenset[str]] = {}
        """``{<name>.dist-info: its RECORD lines for files in site-packages}`` of every
        distribution a loaded file is from."""
        self.loose: dict[str, bytes] = {}
        """Loaded files under ``site-packages`` that no RECORD lists: their bytes."""
        self.foreign: list[str] = []
        """Loaded files neither from the base interpreter nor from ``site-packages``."""
        owners = _records(self.site_dir)
        base = os.path.join(os.path.realpath(sys.base_prefix), "")
        site_root = os.path.join(self.site_dir, "")
        for path in loaded:
            if path.startswith(site_root):
                relative = os.path.normpath(path[len(site_root) :])
                owner = next((d for d, files in owners.items() if relative in files), None)
                if owner is not None:
                    if owner not in self.records:
                        self.records[owner] = _installed(Path(self.site_dir, owner, "RECORD"))
                else:
                    self.loose[relative] = Path(path).read_bytes()
            elif not os.path.realpath(path).startswith(base):
                self.foreign.append(path)

    @classmethod
    def capture(cls, *, missing: Iterable[str] = ()) -> Template:
        """The template of this (already preloaded) process; ``missing``: top-level
        modules its imports looked for and did not find."""
        loaded = []
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                loaded.append(os.path.abspath(path))
        return cls(sys.prefix, loaded, missing=missing)

    def refusal(self, prefix: str) -> str | None:
        """Why the env at ``prefix`` cannot be forked from this template (None: it can)."""
        if self.foreign:
            return f"preloaded modules from outside the environment: {self.foreign[:3]}"
        if _venv_config(prefix) != self.venv or not self.venv:
            return "the environment was made from another interpreter"
        site_dir = _site_packages(prefix)
        try:
            present = os.listdir(site_dir)
        except OSError:
            return f"no {site_dir}"
        for name in sorted(self.missing):
            if any(_provides(entry, name) for entry in present):
                return f"it has {name}, which the preloaded modules found missing"
        for owner, record in self.records.items():
            try:
                if _installed(Path(site_dir, owner, "RECORD")) != record:
                    return f"{owner} differs"
            except OSError:
                return f"{owner} is not installed"
        for relative, data in self.loose.items():
            try:
                if Path(site_dir, relative).read_bytes() != data:
                    return f"{relative} differs"
            except OSError:
                return f"{relative} is missing"
        return None


@dataclass(frozen=True, slots=True)
class _Server:
    """What the serving loop and every child need to know."""

    template: Template
    relocation: Relocation
    base_path: list[str]
    control: socket.socket
    selector: selectors.BaseSelector
    wake: tuple[int, int]


def serve(control_fd: int, handlers: Sequence[str] = ()) -> None:
    """The server's main loop (see the module docstring); never returns.

    ``handlers``: handler modules to preload as well, if they come from an installed
    distribution of this env (project-local modules and missing ones are skipped).
    """
    base_path = _base_path()
    misses = _Misses()
    sys.meta_path.append(misses)
    for name in PRELOAD:
        __import__(name)
    _preload_handlers(handlers)
    _warm_types()
    sys.meta_path.remove(misses)
    if threading.active_count() > 1:  # forking a process with threads is not safe
        sys.exit(f"corral fork server: preloading started threads: {threading.enumerate()}")
    template = Template.capture(missing=misses.names)
    relocation = Relocation.plan(os.path.join(template.site_dir, ""))
    gc.collect()
    gc.freeze()  # children's collections skip what is shared: fewer copy-on-write faults
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    server = _Server(template, relocation, base_path, control, selector, (wake_r, wake_w))
    _answer({"ready": os.getpid()})
    children: set[int] = set()
    open_ = True
    while open_ or children:
        for key, _ in selector.select():
            if key.fileobj is control:
                pid = _handle(server)
                if pid == 0:  # the WM closed the control socket: no more requests
                    selector.unregister(control)
                    control.close()
                    open_ = False
                elif pid is not None:
                    children.add(pid)
            else:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
        _reap(children)
    os._exit(0)


def _preload_handlers(modules: Sequence[str]) -> None:
    """Import the handler ``modules`` that an installed distribution of this env provides.

    Their import then happens once, here, with the env's directory as the working
    directory, instead of in every runner (SDK rule: a handler module does its
    per-project work in the handler, not at import). One that fails is left to the
    runners, which report its error the ordinary way.
    """
    root = os.path.join(_site_packages(sys.prefix), "")
    for name in modules:
        try:
            spec = importlib.util.find_spec(name.partition(".")[0])
            if spec is None or not (spec.origin or "").startswith(root):
                continue
            importlib.import_module(name)
        except Exception:  # noqa: S112  (reported by the runner that loads it)
            continue


def _base_path() -> list[str]:
    """``sys.path`` as the interpreter made it, before ``site`` added the env's entries
    (the first site-packages directory and everything after it)."""
    sites = {*site.getsitepackages(), site.getusersitepackages()}
    for index, entry in enumerate(sys.path):
        if entry in sites:
            return sys.path[:index]
    return list(sys.path)


def _warm_types() -> None:
    """Build msgspec's per-type decoding info for every Struct the runner's modules define
    (msgspec caches it on the class), so no child builds it again for each message type."""
    import msgspec  # noqa: PLC0415  (preloaded)

    for name, module in list(sys.modules.items()):
        if not name.startswith(("corral_runner", "corral_protocol")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, msgspec.Struct):
                with contextlib.suppress(Exception):  # e.g. an unparametrised generic
                    msgspec.json.Decoder(value)


def _answer(message: dict[str, object]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _reap(children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):  # the WM may be gone
            _answer({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _handle(server: _Server) -> int | None:
    """Serve one request: the child's pid, None if refused, 0 when the socket closed.

    Never raises: whatever goes wrong with one request is that request's refusal (an
    exception here would end the server, and with it every runner it forked)."""
    try:
        data, fds, _, _ = socket.recv_fds(server.control, MAX_REQUEST, 3)
    except OSError:
        return 0
    if not data:
        return 0
    try:
        return _fork(server, data, fds)
    except Exception as exc:  # reported to the WM: see the docstring
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            _answer({"refused": f"fork server error: {exc!r}"})
        return None


def _fork(server: _Server, data: bytes, fds: list[int]) -> int | None:
    try:
        request = json.loads(data)
        python, cwd = str(request["python"]), str(request["cwd"])
    except (ValueError, KeyError, TypeError) as exc:
        python = cwd = ""
        reason: str | None = f"bad request: {exc}"
    else:
        prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
        reason = server.template.refusal(prefix)
    if len(fds) != 3:
        reason = f"bad request: expected 3 file descriptors, got {len(fds)}"
    if reason is not None:
        for fd in fds:
            os.close(fd)
        _answer({"refused": reason})
        return None
    pid = os.fork()
    if pid == 0:
        code = EXIT_CHILD_FAILED
        try:
            _child(server, python, cwd, fds)
        except SystemExit as exc:  # as the interpreter would: None -> 0, text -> 1
            code = _exit_status(exc)
        except BaseException:
            with contextlib.suppress(BaseException):
                os.write(2, traceback.format_exc().encode(errors="replace"))
        finally:
            os._exit(code)
    for fd in fds:
        os.close(fd)
    _answer({"spawned": pid})
    return pid


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    with contextlib.suppress(OSError):
        os.write(2, f"{exc.code}\n".encode(errors="replace"))
    return 1


def _child(server: _Server, python: str, cwd: str, fds: list[int]) -> None:
    """Become a runner for the env of ``python`` in ``cwd``; returns only on failure."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server.selector.close()  # closes this process's epoll fd only
    server.control.close()
    for fd in server.wake:
        os.close(fd)
    os.setsid()  # like the WM's own spawns: a WM's Ctrl-C is the WM's alone
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    _adopt(python, cwd, server.base_path, server.relocation)
    from corral_runner.__main__ import main  # noqa: PLC0415  (preloaded: no import cost)

    main()  # ends the process with os._exit


def _adopt(python: str, cwd: str, base_path: list[str], relocation: Relocation) -> None:
    """Make this process look as if ``python -m corral_runner`` had started in ``cwd``:
    interpreter, prefix, import path, ``site`` and ``sysconfig`` state, and the paths of
    the preloaded modules (moved from the template's ``site-packages`` to this env's,
    which holds the same files: the template checked)."""
    sys.executable = python
    sys.prefix = sys.exec_prefix = sys.base_prefix
    sys.path[:] = list(base_path) if sys.flags.safe_path else [cwd, *base_path[1:]]
    for name in ("sitecustomize", "usercustomize"):
        sys.modules.pop(name, None)
    # site's documented state as at interpreter start, then what start-up does with it:
    site.PREFIXES = [sys.prefix, sys.exec_prefix]
    site.ENABLE_USER_SITE = None
    site.USER_SITE = site.USER_BASE = None
    site.main()  # site.venv(): sys.prefix, site-packages and its .pth files, from `python`
    if "sysconfig" in sys.modules:  # its paths were computed from the template's prefix
        importlib.reload(sys.modules["sysconfig"])
    target_site = os.path.join(_site_packages(sys.prefix), "")
    relocation.apply(target_site)
    sys.argv = [os.path.join(target_site, "corral_runner", "__main__.py")]


@dataclass(frozen=True, slots=True)
class Relocation:
    """Every place a preloaded module records a path under the template's
    ``site-packages``, planned before forking so that a child only writes strings (few
    pages copied): ``(object, attribute, path relative to site-packages)`` and the path
    lists of packages with their entries (relative, or ``None`` for one left as it is)."""

    attributes: tuple[tuple[object, str, str], ...]
    lists: tuple[tuple[list[str], tuple[tuple[str | None, str], ...]], ...]

    @classmethod
    def plan(cls, root: str) -> Relocation:
        """The relocation of every module loaded from under ``root`` (ends with a sep)."""
        attributes: list[tuple[object, str, str]] = []
        lists: dict[int, tuple[list[str], tuple[tuple[str | None, str], ...]]] = {}

        def note(owner: object, attribute: str) -> None:
            value = getattr(owner, attribute, None)
            if isinstance(value, str) and value.startswith(root):
                attributes.append((owner, attribute, value[len(root) :]))

        def note_list(value: object) -> None:
            if isinstance(value, list) and id(value) not in lists:
                entries = tuple(
                    (p[len(root) :], p) if isinstance(p, str) and p.startswith(root) else (None, p)
                    for p in value
                )
                lists[id(value)] = (value, entries)

        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not (isinstance(path, str) and path.startswith(root)):
                continue
            note(module, "__file__")
            note(module, "__cached__")
            note_list(getattr(module, "__path__", None))
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                note(spec, "origin")
                if spec.has_location:
                    note(spec, "cached")
                note_list(spec.submodule_search_locations)
            note(getattr(module, "__loader__", None), "path")
        return cls(tuple(attributes), tuple(lists.values()))

    def apply(self, root: str) -> None:
        """Point everything planned at the same relative path under ``root``."""
        for owner, attribute, relative in self.attributes:
            setattr(owner, attribute, root + relative)
        for paths, entries in self.lists:
            paths[:] = [path if relative is None else root + relative for relative, path in entries]
        sys.path_importer_cache.clear()
