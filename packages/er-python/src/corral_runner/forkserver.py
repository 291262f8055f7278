"""The fork server: start reference runners by forking a process that has already imported
the runner, instead of starting and importing a fresh interpreter each time (POSIX only).

A Python runner spends ~100 ms of CPU importing asyncio, msgspec and itself before it can
serve; a workspace of 20 projects pays that 20 times per cold command. The fork server pays
it once. Each runner it forks is still its own process serving one (project, env)
(docs/architecture.md#runner-per-env) in that env's virtual environment: the child adopts
the env the way the interpreter's own start-up would (``sys.executable``, ``site``
processing of the env's ``site-packages`` and ``.pth`` files, ``sys.prefix``), then runs
``python -m corral_runner``'s ``main()`` on the stdin/stdout/stderr pipes the WM passed it.
The runner protocol does not change: the child reads its launch record and prints its hello
like any runner.

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
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .forktemplate import Misses, Relocation, Template, site_packages

__all__ = ["PRELOAD", "serve"]

PRELOAD: Final = ("corral_runner.launch", "corral_runner.server", "corral_runner.__main__")
"""Imported once by the server: everything a runner needs before its handlers load."""

EXIT_CHILD_FAILED: Final = 70
MAX_REQUEST: Final = 65536


@dataclass(frozen=True, slots=True)
class _Server:
    """What the serving loop and every child need to know."""

    template: Template
    relocation: Relocation
    base_path: list[str]
    answers: int
    """The WM's answer pipe (the server's original stdout; fd 1 now goes to stderr)."""
    control: socket.socket
    selector: selectors.BaseSelector
    wake: tuple[int, int]


def serve(control_fd: int, handlers: Sequence[str] = ()) -> None:
    """The server's main loop (see the module docstring); never returns.

    ``handlers``: handler modules to preload as well, if they come from an installed
    distribution of this env (project-local modules and missing ones are skipped).
    """
    answers = os.dup(1)  # what preloaded code prints must not reach the WM's answers,
    os.dup2(2, 1)  # nor sit in a buffer every child inherits: fd 1 is stderr from here
    base_path = _base_path()
    misses = Misses()
    sys.meta_path.append(misses)
    for name in PRELOAD:
        __import__(name)
    local = _preload_handlers(handlers)
    preloaded = {name.partition(".")[0] for name in handlers} - local
    _warm_types(("corral_runner", "corral_protocol", "corral_wal", *sorted(preloaded)))
    sys.meta_path.remove(misses)
    misses.names -= local  # the project's own modules: looked up here, imported there
    sys.stdout.flush()
    if _thread_count() > 1:  # forking a process with threads is not safe
        sys.exit("corral fork server: preloading started threads")
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
    server = _Server(template, relocation, base_path, answers, control, selector, (wake_r, wake_w))
    _answer(server, {"ready": os.getpid()})
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
        _reap(server, children)
    os._exit(0)


def _preload_handlers(modules: Sequence[str]) -> set[str]:
    """Import the handler ``modules`` that an installed distribution of this env provides.

    Their import then happens once, here, with the env's directory as the working
    directory, instead of in every runner (SDK rule: a handler module does its
    per-project work in the handler, not at import). One that fails is left to the
    runners, which report its error the ordinary way. Returns the top-level names that
    are not installed here (the project's own modules).
    """
    root = os.path.join(site_packages(sys.prefix), "")
    local: set[str] = set()
    for name in modules:
        top = name.partition(".")[0]
        try:
            spec = importlib.util.find_spec(top)
            if spec is None or not (spec.origin or "").startswith(root):
                local.add(top)
                continue
            importlib.import_module(name)
        except BaseException:  # noqa: S112  (a runner that loads it reports it)
            continue
    return local


def _base_path() -> list[str]:
    """``sys.path`` as the interpreter made it, before ``site`` added the env's entries
    (the first site-packages directory and everything after it)."""
    sites = {*site.getsitepackages(), site.getusersitepackages()}
    for index, entry in enumerate(sys.path):
        if entry in sites:
            return sys.path[:index]
    return list(sys.path)


def _warm_types(packages: Sequence[str]) -> None:
    """Build msgspec's per-type info for every Struct defined in ``packages`` (the runner's
    and the preloaded handlers'; msgspec caches it on the class), so no child builds it
    again for each message, params or result type (it evaluates their annotations)."""
    import msgspec  # noqa: PLC0415  (preloaded)

    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, msgspec.Struct):
                with contextlib.suppress(Exception):  # e.g. an unparametrised generic
                    msgspec.json.Decoder(value)


def _thread_count() -> int:
    """Threads of this process, native ones included (``threading`` sees only its own)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _answer(server: _Server, message: dict[str, object]) -> None:
    os.write(server.answers, json.dumps(message).encode() + b"\n")


def _reap(server: _Server, children: set[int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):  # the WM may be gone
            _answer(server, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


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
            _answer(server, {"refused": f"fork server error: {exc!r}"})
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
        reason = server.template.refusal(prefix, cwd)
    if len(fds) != 3:
        reason = f"bad request: expected 3 file descriptors, got {len(fds)}"
    if reason is not None:
        for fd in fds:
            os.close(fd)
        _answer(server, {"refused": reason})
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
    _answer(server, {"spawned": pid})
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
    for fd in (*server.wake, server.answers):
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
    sys.path[:] = list(base_path) if sys.flags.safe_path else [cwd, *base_path[1:]]
    for name in ("sitecustomize", "usercustomize"):
        sys.modules.pop(name, None)
    # the env's prefix first, so that what site.main() runs (.pth lines, sitecustomize)
    # sees this env's sysconfig paths and module files, as at a real start
    sys.prefix = sys.exec_prefix = os.path.dirname(os.path.dirname(python))
    if "sysconfig" in sys.modules:  # its paths were computed from the template's prefix
        importlib.reload(sys.modules["sysconfig"])
    target_site = os.path.join(site_packages(sys.prefix), "")
    relocation.apply(target_site)
    # site's documented state as at interpreter start, then what start-up does with it:
    sys.prefix = sys.exec_prefix = sys.base_prefix
    site.PREFIXES = [sys.prefix, sys.exec_prefix]
    site.ENABLE_USER_SITE = None
    site.USER_SITE = site.USER_BASE = None
    site.main()  # site.venv(): sys.prefix, site-packages and its .pth files, from `python`
    sys.argv = [os.path.join(target_site, "corral_runner", "__main__.py")]
