"""Wrappers around the calls whose audit events cannot be checked well, or that raise none.

Installed once with the audit hook; each costs one context-variable read when no plugin
code runs. What each one closes:

- ``os.open`` with ``dir_fd``: the ``open`` event names the path but not the folder it
  is relative to, so the wrapper resolves it as the kernel does (through
  ``/proc/self/fd/N``) and checks that.
- ``open``/``io.open``/``os.open`` after the fact: the ``open`` event fires before the
  kernel resolves the path, so a symbolic link swapped in between leads elsewhere. The
  wrappers look at what the new descriptor really is (``/proc/self/fd/N``) and close it
  when the grants do not cover it. A file created or truncated in that window stays so:
  a limit listed in docs/security.md.
- ``os.mkfifo`` and ``os.mknod`` raise no event: checked against the write grants.
- ``_posixsubprocess.fork_exec`` starts programs with no event of its own (multiprocessing
  ``spawn`` and ``forkserver`` use it directly): checked against the ``run`` grants.
- ``ThreadPoolExecutor.submit``: the executor's threads may have been started by host
  code (``loop.run_in_executor`` keeps one default pool), and a thread keeps whoever
  started it, so work a plugin submits carries the plugin's identity with it instead. A
  pool a plugin starts without an ``initializer`` leaves its threads unattributed, so the
  host's own work in it later runs as the host; with an ``initializer`` (plugin code
  running outside any submitted work) the threads stay the plugin's. The executor is
  wrapped when ``concurrent.futures.thread`` is first imported (``on_import``), or at
  once if it already was: arming the guard does not import it.
"""

from __future__ import annotations

import builtins
import contextvars
import io
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from jafhost.security import guard, guard_exit, on_import
from jafhost.security.policy import Policy

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


def fd_target(fd: int) -> str | None:
    """The file a descriptor is open on, or None when it is no file with a name (a pipe,
    a socket, a deleted file) or the system cannot tell."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    if not target.startswith("/") or target.endswith(" (deleted)"):
        return None
    return target


def check_opened(fd: int, plugin: str, rules: Policy, write: bool, shown: Any) -> None:
    """Deny (the caller closes ``fd``) when what it is really open on is not granted."""
    target = fd_target(fd)  # the kernel's name for it: already a real path
    if target is None or (rules.may_write if write else rules.may_read)(target):
        return
    with guard.checking():
        check = guard.check_write if write else guard.check_read
        check(rules, plugin, target, f"open {os.fsdecode(shown)!s}, which leads to")


def _wrap_os_open(original: Callable[..., int]) -> Callable[..., int]:
    def guarded_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        found = guard.current()
        if found is None:
            return original(path, flags, mode, dir_fd=dir_fd)
        plugin, rules = found
        write = guard.is_write(None, flags)
        if dir_fd is None:
            fd = original(path, flags, mode)
        else:
            with guard.checking():
                check = guard.check_write if write else guard.check_read
                check(rules, plugin, guard.at(path, dir_fd))
            state = guard.thread_state()
            state.checked_open = path
            try:
                fd = original(path, flags, mode, dir_fd=dir_fd)
            finally:
                state.checked_open = None
        try:
            check_opened(fd, plugin, rules, write, path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    guarded_open.__doc__ = original.__doc__
    return guarded_open


def _wrap_open(original: Callable[..., Any]) -> Callable[..., Any]:
    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        found = guard.current()
        opened = original(file, mode, *args, **kwargs)
        if found is not None:  # flushed as the plugin should it still be open at the exit
            guard_exit.opened(opened, found[0])
        if found is not None and not isinstance(file, int):
            try:
                fd = opened.fileno()
            except (OSError, ValueError, AttributeError):
                return opened
            try:
                check_opened(fd, *found, guard.is_write(mode, None), file)
            except BaseException:
                opened.close()
                raise
        return opened

    guarded_open.__doc__ = original.__doc__
    return guarded_open


def _wrap_make(original: Callable[..., None], verb: str) -> Callable[..., None]:
    def guarded_make(path: Any, *args: Any, dir_fd: int | None = None) -> None:
        found = guard.current()
        if found is not None:
            with guard.checking():
                guard.check_write(found[1], found[0], guard.at(path, dir_fd), verb)
        original(path, *args, dir_fd=dir_fd)

    guarded_make.__doc__ = original.__doc__
    return guarded_make


def _wrap_fork_exec(original: Callable[..., int]) -> Callable[..., int]:
    def guarded_fork_exec(*args: Any) -> int:
        found = guard.current()
        if found is not None:
            plugin, rules = found
            programs = [os.fsdecode(p) for p in (args[1] or ())]
            with guard.checking():
                if not any(rules.may_run(p) for p in programs):
                    guard.check_run(rules, plugin, programs[0] if programs else "")
        return original(*args)

    guarded_fork_exec.__doc__ = original.__doc__
    return guarded_fork_exec


def _wrap_submit(original: Callable[..., Future[Any]]) -> Callable[..., Future[Any]]:
    def submit(
        self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        plugin = guard.running_plugin()
        if plugin is None:
            return original(self, fn, *args, **kwargs)
        context = contextvars.copy_context()
        context.run(guard.CURRENT_PLUGIN.set, plugin)
        state = guard.thread_state()
        before = getattr(state, "untagged", False)
        state.untagged = getattr(self, "_initializer", None) is None
        try:
            return original(self, context.run, fn, *args, **kwargs)
        finally:
            state.untagged = before

    submit.__doc__ = original.__doc__
    submit._jafhost_guarded = True  # type: ignore[attr-defined]
    return submit


def _patch_executor(module: ModuleType) -> None:
    """Wrap ``ThreadPoolExecutor.submit`` of ``concurrent.futures.thread`` (once)."""
    executor = module.ThreadPoolExecutor
    if not getattr(executor.submit, "_jafhost_guarded", False):
        executor.submit = _wrap_submit(executor.submit)


def install() -> None:
    """Put the wrappers in place (``guard.install`` calls this once)."""
    import _posixsubprocess
    import posix

    os.open = posix.open = _wrap_os_open(os.open)
    builtins.open = io.open = _wrap_open(io.open)
    for name, verb in (("mkfifo", "create a FIFO"), ("mknod", "create a device node")):
        if hasattr(os, name):
            wrapped = _wrap_make(getattr(os, name), verb)
            setattr(os, name, wrapped)
            setattr(posix, name, wrapped)
    fork_exec = _wrap_fork_exec(_posixsubprocess.fork_exec)
    _posixsubprocess.fork_exec = fork_exec
    # ``subprocess`` takes ``fork_exec`` from ``_posixsubprocess`` when it is imported: one
    # imported later gets the wrapper from there, one imported already is patched here
    # (so arming the guard does not import ``subprocess`` for a plugin that never runs one)
    subprocess = sys.modules.get("subprocess")
    if subprocess is not None and getattr(subprocess, "_fork_exec", None) is not None:
        subprocess._fork_exec = fork_exec  # type: ignore[attr-defined]
    on_import.when_imported("concurrent.futures.thread", _patch_executor)
