"""Noticing that the WM (the launch record's ``parentPid``) died, without busy polling.

Linux: a pidfd becomes readable when the process exits (event-driven, no timer).
macOS/BSD: a kqueue ``NOTE_EXIT`` filter, waited on in a daemon thread.
Windows: ``WaitForSingleObject`` on a process handle, in a daemon thread (``os.kill(pid, 0)``
would send CTRL_C there, not probe the process).
Elsewhere: a check once a second (``os.kill(pid, 0)`` plus a change of ``getppid()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Any, Final

__all__ = ["watch_parent"]

POLL_INTERVAL: Final = 1.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_parent(
    loop: asyncio.AbstractEventLoop, pid: int, on_death: Callable[[], None]
) -> Callable[[], None]:
    """Call ``on_death`` (on the loop) once process ``pid`` has exited; return a stopper."""
    if sys.platform == "win32":
        return _watch_windows(loop, pid, on_death)
    if not _alive(pid):
        loop.call_soon(on_death)
        return lambda: None
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd: int = pidfd_open(pid)
        except OSError:
            pass
        else:

            def fire() -> None:
                loop.remove_reader(fd)
                os.close(fd)
                on_death()

            loop.add_reader(fd, fire)

            def stop() -> None:
                with contextlib.suppress(Exception):
                    loop.remove_reader(fd)
                    os.close(fd)

            return stop
    if hasattr(select, "kqueue"):
        return _watch_kqueue(loop, pid, on_death)
    return _watch_polling(loop, pid, on_death)


def _watch_windows(
    loop: asyncio.AbstractEventLoop, pid: int, on_death: Callable[[], None]
) -> Callable[[], None]:
    import ctypes  # noqa: PLC0415  (Windows only)

    kernel32: Any = getattr(ctypes, "windll").kernel32  # noqa: B009  (absent on POSIX)
    synchronize, infinite = 0x00100000, 0xFFFFFFFF
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:  # no such process (or no right to wait on it: treat as gone)
        loop.call_soon(on_death)
        return lambda: None

    def wait() -> None:
        kernel32.WaitForSingleObject(handle, infinite)
        kernel32.CloseHandle(handle)
        loop.call_soon_threadsafe(on_death)

    threading.Thread(target=wait, name="corral-parent-watch", daemon=True).start()
    return lambda: None


def _watch_kqueue(
    loop: asyncio.AbstractEventLoop, pid: int, on_death: Callable[[], None]
) -> Callable[[], None]:
    sel: Any = select  # kqueue exists only on BSD/macOS; typeshed hides it elsewhere
    kq = sel.kqueue()
    event = sel.kevent(pid, filter=sel.KQ_FILTER_PROC, flags=sel.KQ_EV_ADD, fflags=sel.KQ_NOTE_EXIT)

    def wait() -> None:
        try:
            kq.control([event], 1, None)
        except OSError:
            return
        loop.call_soon_threadsafe(on_death)

    threading.Thread(target=wait, name="corral-parent-watch", daemon=True).start()

    def stop() -> None:
        kq.close()

    return stop


def _watch_polling(
    loop: asyncio.AbstractEventLoop, pid: int, on_death: Callable[[], None]
) -> Callable[[], None]:
    original_ppid = os.getppid()
    handle: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal handle
        if not _alive(pid) or os.getppid() != original_ppid:
            on_death()
            return
        handle = loop.call_later(POLL_INTERVAL, check)

    handle = loop.call_later(POLL_INTERVAL, check)

    def stop() -> None:
        if handle is not None:
            handle.cancel()

    return stop
