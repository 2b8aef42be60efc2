"""The in-process guard: one PEP 578 audit hook checking plugin code against its grants.

While a plugin's code runs, ``CURRENT_PLUGIN`` holds its identity (the host sets it
around every hook, tool and handler call; the threads a plugin starts are attributed to
it), and the hook checks file opens and changes (paths relative to a ``dir_fd`` resolved
from that folder, as the kernel does), links, attributes, sockets and name lookups,
programs and forks, terminal input, SQLite files, environment writes and ctypes against
the plugin's ``Policy``, raising ``PermissionDenied`` that names the permission that
would have allowed the action. What raises no usable audit event is wrapped instead
(``guard_calls``, ``guard_sqlite``, ``guard_environ``). When no plugin code is running
it returns after one context-variable read and one thread lookup. A guard rail against a
benign plugin steered into misuse, not a boundary against hostile code: docs/security.md.

Everything the hook and its checks call is imported with this module, never inside the
hook: an import there would run after plugin code, through the plugin's ``sys.modules``,
``sys.path`` and ``sys.meta_path``. Kept to light modules (``_socket`` rather than
``socket``), since ``jafhost call`` arms the guard on every call.
"""

from __future__ import annotations

import _socket
import contextlib
import contextvars
import ipaddress
import os
import shlex
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from jafhost.errors import PermissionDenied
from jafhost.security.policy import Policy

CURRENT_PLUGIN: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jafhost_current_plugin", default=None
)
"""The plugin whose code is running in this context, or None for host code."""

THREAD_ATTRIBUTE = "_jafhost_plugin"
_POLICIES: dict[str, Policy] = {}
_STATE = threading.local()
_INSTALLED = False
DENIALS: deque[tuple[str, str, str]] = deque(maxlen=1000)
"""Recent denials as (plugin, permission, action); the host turns them into events."""
_listeners: list[weakref.WeakMethod[Callable[[str, str, str], None]]] = []

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class PluginIdentity(str):
    """A plugin's name that also carries its ``Policy``.

    ``CURRENT_PLUGIN`` holds one of these while plugin code runs, so two hosts in one
    process (each with its own grants and data folders for a plugin of the same name)
    never check one another's rules. It is a ``str``: code that only wants the name
    needs nothing special.
    """

    policy: Policy | None

    def __new__(cls, name: str, policy: Policy | None = None) -> PluginIdentity:
        identity = super().__new__(cls, name)
        identity.policy = policy
        return identity


def identity(policy: Policy) -> PluginIdentity:
    """Register ``policy`` (arming the thread fast path) and return its identity."""
    _POLICIES[policy.plugin] = policy
    return PluginIdentity(policy.plugin, policy)


def set_policy(policy: Policy) -> None:
    _POLICIES[policy.plugin] = policy


def policy(plugin: str) -> Policy | None:
    return _POLICIES.get(plugin)


def on_denied(listener: Callable[[str, str, str], None]) -> None:
    """Call the bound method ``listener(plugin, permission, action)`` on every denial, from
    any thread; ``plugin`` is the ``PluginIdentity`` denied, so a host can tell its own
    plugins from another host's. Held weakly: a host that is gone stops listening."""
    _listeners.append(weakref.WeakMethod(listener))


def installed() -> bool:
    return _INSTALLED


def install() -> None:
    """Add the audit hook (once per process; audit hooks cannot be removed), and the
    wrappers around the calls that raise no audit event a check could use
    (``guard_calls``, ``guard_sqlite``, ``guard_readline``), the callbacks left for the
    exit (``guard_exit``) and the environment mapping (``guard_environ``)."""
    global _INSTALLED
    if not _INSTALLED:
        from jafhost.security import (
            guard_calls,
            guard_environ,
            guard_exit,
            guard_readline,
            guard_sqlite,
        )

        _attribute_threads()
        guard_calls.install()
        guard_exit.install()
        guard_environ.install()
        guard_sqlite.install()
        guard_readline.install()
        sys.addaudithook(_hook)
        _INSTALLED = True


def _attribute_threads() -> None:
    """Tag each ``threading.Thread`` with the plugin that starts it.

    Python 3.11 raises no audit event when a thread starts and a new thread does not
    inherit context variables, so without this a plugin could escape its grants by
    doing its work in a thread of its own. Threads started with the low-level
    ``_thread.start_new_thread`` are not covered.
    """
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        plugin = running_plugin()
        if plugin is not None and not getattr(_STATE, "untagged", False):
            setattr(self, THREAD_ATTRIBUTE, plugin)
        original(self)

    start.__doc__ = original.__doc__
    threading.Thread.start = start  # type: ignore[method-assign]


def running_plugin() -> str | None:
    plugin = CURRENT_PLUGIN.get()
    if plugin is None:
        plugin = getattr(threading.current_thread(), THREAD_ATTRIBUTE, None)
    return plugin


def thread_state() -> threading.local:
    """The guard's per-thread flags (``busy`` while it checks; see ``guard_calls``)."""
    return _STATE


def current() -> tuple[str, Policy] | None:
    """The running plugin and its rules, or None for host code (or while the guard is
    itself checking something in this thread)."""
    plugin = running_plugin()
    if plugin is None:
        return None
    rules = getattr(plugin, "policy", None) or _POLICIES.get(plugin)
    if rules is None or getattr(_STATE, "busy", False):
        return None
    return plugin, rules


@contextlib.contextmanager
def checking() -> Iterator[None]:
    """Mark this thread busy while the guard works, so its own calls are not checked."""
    before = getattr(_STATE, "busy", False)
    _STATE.busy = True
    try:
        yield
    finally:
        _STATE.busy = before


def deny(plugin: str, permission: str, action: str) -> PermissionDenied:
    DENIALS.append((plugin, permission, action))
    for ref in list(_listeners):
        listener = ref()
        if listener is None:
            with contextlib.suppress(ValueError):
                _listeners.remove(ref)
            continue
        with contextlib.suppress(Exception):  # a listener's bug must not hide the denial
            listener(plugin, permission, action)
    rules = getattr(plugin, "policy", None) or _POLICIES.get(plugin)
    rule = rules.ceiling.rule_for(permission) if rules is not None else None
    narrowed = getattr(plugin, "denial_hint", None)
    if rule is not None:
        hint = f"denied by {rule.describe()}"
    else:
        hint = (narrowed(permission) if narrowed is not None else None) or grant_hint(
            plugin, permission
        )
    return PermissionDenied(
        f"{permission}: plugin {plugin} may not {action} ({hint})",
        plugin=plugin,
        permission=permission,
    )


def report_denial(plugin: str, permission: str, action: str) -> None:
    """Record a denial made by the guard of another process (a plugin's worker) and tell
    the listeners, as for one made here."""
    deny(plugin, permission, action)


def grant_hint(plugin: str, permission: str) -> str:
    """How the user allows what was denied: the ``jafhost grant`` command, ready to paste."""
    return f"to allow it: jafhost grant {shlex.quote(str(plugin))} {shlex.quote(permission)}"


def _path(value: Any) -> str | None:
    if isinstance(value, int) or value is None:
        return None
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        return None


def at(value: Any, dir_fd: Any = None) -> Any:
    """``value`` as the kernel resolves it: a relative path is taken from the folder
    ``dir_fd`` is open on (not from the working folder), and a descriptor in place of a
    path (``os.fchmod``...) names the file it is open on. ``/proc/self/fd/N`` leads
    there when resolved; where it does not exist the path is covered by no grant."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"/proc/self/fd/{value}"
    path = _path(value)
    if path is None or not isinstance(dir_fd, int) or dir_fd < 0 or os.path.isabs(path):
        return value  # no dir_fd (the events pass -1) or AT_FDCWD: the working folder
    return f"/proc/self/fd/{dir_fd}/{path}"


def _arg(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if len(args) > index else None


def is_write(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def check_read(rules: Policy, plugin: str, value: Any, verb: str = "read") -> None:
    path = _path(value)
    if path is not None and not rules.may_read(path):
        raise deny(plugin, f"read:{os.path.realpath(path)}", f"{verb} {path}")


def check_list(rules: Policy, plugin: str, value: Any) -> None:
    path = _path(value)
    if path is not None and not rules.may_list(path):
        raise deny(plugin, f"read:{os.path.realpath(path)}", f"list {path}")


def check_write(rules: Policy, plugin: str, value: Any, verb: str = "write") -> None:
    path = _path(value)
    if path is not None and not rules.may_write(path):
        raise deny(plugin, f"write:{os.path.realpath(path)}", f"{verb} {path}")


def check_move(rules: Policy, plugin: str, value: Any, verb: str) -> None:
    """As ``check_write``, and never a folder holding jafhost's home (``may_move``)."""
    path = _path(value)
    if path is not None and not rules.may_move(path):
        raise deny(plugin, f"write:{os.path.realpath(path)}", f"{verb} {path}")


def _address(address: Any) -> tuple[str, int | None] | None:
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], str):
        port = address[1] if isinstance(address[1], int) else None
        return address[0], port
    return None


def _net_name(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"net:{shown}:{port if port is not None else '*'}"


def _check_connect(rules: Policy, plugin: str, address: Any, verb: str) -> None:
    if isinstance(address, str | bytes):  # AF_UNIX: a file in the file system
        check_write(rules, plugin, address, f"{verb} socket")
        return
    parsed = _address(address)
    if parsed is not None and not rules.may_connect(*parsed):
        raise deny(plugin, _net_name(*parsed), f"{verb} {parsed[0]}:{parsed[1]}")


def _check_resolve(rules: Policy, plugin: str, host: Any, port: Any) -> None:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        return
    number = port if isinstance(port, int) else None
    if isinstance(port, str) and port.isdigit():
        number = int(port)
    if not rules.may_resolve(host, number):
        try:
            ipaddress.ip_address(host.strip("[]"))
            verb = "connect to"
        except ValueError:
            verb = "look up"
        raise deny(plugin, _net_name(host, number), f"{verb} {host}")
    try:  # learn the addresses so the connect that follows can be matched to the name
        infos = _socket.getaddrinfo(host, port)  # not re-checked: this thread is busy
        rules.note_resolved(host, [str(info[4][0]) for info in infos])
    except OSError:
        pass


def _check_reverse(rules: Policy, plugin: str, address: Any) -> None:
    """A reverse lookup sends the address to the name servers: the address is data."""
    parsed = _address(address)
    if parsed is not None and not rules.may_resolve(*parsed):
        raise deny(plugin, _net_name(*parsed), f"look up the name of {parsed[0]}")


def check_run(rules: Policy, plugin: str, program: Any) -> None:
    path = _path(program)
    if path is not None and not rules.may_run(path):
        raise deny(plugin, f"run:{os.path.basename(path)}", f"run {path}")


def check_sqlite(
    rules: Policy, plugin: str, database: Any, verb: str = "open the database"
) -> None:
    """SQLite opens its files in C, with no ``open`` event: check the database path here
    (and, through ``guard_sqlite``, every ``ATTACH`` and ``VACUUM INTO``). A ``file:`` URI
    with ``mode=ro`` needs read access; anything else may write."""
    path = _path(database)
    if path is None or path in ("", ":memory:"):
        return
    if path.startswith("file:"):
        location, _, query = path[len("file:") :].partition("?")
        location = unquote(location.partition("#")[0])
        options = dict(item.partition("=")[::2] for item in query.partition("#")[0].split("&"))
        mode = unquote(options.get("mode", ""))
        if location in ("", ":memory:") or mode == "memory":
            return
        if location.startswith("//"):  # file://localhost/path or file:///path
            location = "/" + location[2:].partition("/")[2]
        if mode == "ro":
            check_read(rules, plugin, location, verb)
        else:
            check_write(rules, plugin, location, verb)
        return
    check_write(rules, plugin, path, verb)


_HANDLED = frozenset(
    {
        "fcntl.ioctl",
        "glob.glob",
        "import",
        "open",
        "os.chflags",
        "os.chmod",
        "os.chown",
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.getxattr",
        "os.link",
        "os.listdir",
        "os.listxattr",
        "os.mkdir",
        "os.posix_spawn",
        "os.putenv",
        "os.remove",
        "os.removexattr",
        "os.rename",
        "os.rmdir",
        "os.scandir",
        "os.setxattr",
        "os.spawn",
        "os.symlink",
        "os.system",
        "os.truncate",
        "os.unsetenv",
        "os.utime",
        "shutil.chown",
        "shutil.copyfile",
        "shutil.copymode",
        "shutil.copystat",
        "shutil.copytree",
        "shutil.make_archive",
        "shutil.move",
        "shutil.rmtree",
        "shutil.unpack_archive",
        "socket.bind",
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyaddr",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.getnameinfo",
        "socket.sendmsg",
        "socket.sendto",
        "sqlite3.connect",
        "sqlite3.connect/handle",
        "sqlite3.enable_load_extension",
        "sqlite3.load_extension",
        "subprocess.Popen",
    }
)
"""The audit events ``_check`` looks at (``ctypes.*`` aside): one set lookup skips the rest."""


TIOCSTI = 0x5412
TIOCLINUX = 0x541C
"""ioctl requests that type into the terminal (as if the user had): a way to run
commands in the user's shell, so they need what running ``sh`` needs."""

_CHANGES = {  # event -> (index of the path, index of its dir_fd or None, verb)
    "os.remove": (0, 1, "remove"),
    "os.rmdir": (0, 1, "remove"),
    "os.mkdir": (0, 2, "create"),
    "os.chmod": (0, 2, "chmod"),
    "os.chown": (0, 3, "chown"),
    "os.utime": (0, 3, "utime"),
    "os.chflags": (0, None, "chflags"),
    "os.truncate": (0, None, "truncate"),
    "os.setxattr": (0, None, "set attributes of"),
    "os.removexattr": (0, None, "remove attributes of"),
    "shutil.rmtree": (0, 2, "remove"),
    "shutil.chown": (0, None, "chown"),
}


def _check(event: str, args: tuple[Any, ...], plugin: str, rules: Policy) -> None:
    if event == "open":
        if not isinstance(args[0], int) and getattr(_STATE, "checked_open", None) is args[0]:
            return  # os.open with dir_fd: checked by its wrapper, which knows the folder
        if is_write(_arg(args, 1), _arg(args, 2)):
            check_write(rules, plugin, args[0])
        else:
            check_read(rules, plugin, args[0])
    elif event in ("os.listdir", "os.scandir", "glob.glob"):
        check_list(rules, plugin, at(args[0] if args and args[0] is not None else "."))
    elif event == "os.listxattr":
        check_read(rules, plugin, at(args[0] if args and args[0] is not None else "."), "list")
    elif event == "os.getxattr":
        check_read(rules, plugin, at(args[0]), "read attributes of")
    elif event in _CHANGES:
        index, fd_index, verb = _CHANGES[event]
        dir_fd = _arg(args, fd_index) if fd_index is not None else None
        check = check_move if verb == "remove" else check_write
        check(rules, plugin, at(args[index], dir_fd), verb)
    elif event in ("os.rename", "shutil.move"):
        check_move(rules, plugin, at(args[0], _arg(args, 2)), "move")
        check_write(rules, plugin, at(args[1], _arg(args, 3)), "move to")
    elif event == "os.link":
        # a hard link is the same file under a second name: whoever may write through
        # the new name writes the original, so its source needs a write grant too
        check_write(rules, plugin, at(args[0], _arg(args, 2)), "hard-link")
        check_write(rules, plugin, at(args[1], _arg(args, 3)), "create")
    elif event == "os.symlink":
        link = at(args[1], _arg(args, 2))
        target = _path(args[0])
        if target is not None and not os.path.isabs(target):  # relative to the link's folder
            target = os.path.join(os.path.dirname(_path(link) or "."), target)
        check_read(rules, plugin, target, "link to")
        check_write(rules, plugin, link, "create")
    elif event in ("shutil.copyfile", "shutil.copytree"):
        check_read(rules, plugin, args[0], "copy")
        check_write(rules, plugin, args[1], "create")
    elif event in ("shutil.copymode", "shutil.copystat"):
        check_write(rules, plugin, args[1], "change")
    elif event == "shutil.unpack_archive":
        check_read(rules, plugin, args[0])
        check_write(rules, plugin, args[1] if len(args) > 1 and args[1] else ".", "unpack into")
    elif event == "shutil.make_archive":
        check_write(rules, plugin, args[0], "create archive")
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        _check_connect(rules, plugin, _arg(args, 1), "connect to")
    elif event == "socket.bind":
        _check_connect(rules, plugin, _arg(args, 1), "listen on")
    elif event == "sqlite3.connect":
        check_sqlite(rules, plugin, _arg(args, 0))
    elif event == "sqlite3.connect/handle":
        from jafhost.security import guard_sqlite

        guard_sqlite.check_handle(plugin)
    elif event in ("sqlite3.enable_load_extension", "sqlite3.load_extension"):
        if not rules.ffi:
            raise deny(plugin, "ffi", "load a SQLite extension")
    elif event == "socket.getaddrinfo":
        _check_resolve(rules, plugin, args[0], _arg(args, 1))
    elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        _check_resolve(rules, plugin, args[0], None)
    elif event == "socket.getnameinfo":
        _check_reverse(rules, plugin, args[0])
    elif event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        program = executable
        if program is None:
            program = argv if isinstance(argv, str | bytes) else (argv[0] if argv else None)
        check_run(rules, plugin, program)
    elif event == "os.system":
        check_run(rules, plugin, "sh")
    elif event in ("os.exec", "os.posix_spawn"):
        check_run(rules, plugin, args[0])
    elif event == "os.spawn":
        check_run(rules, plugin, args[1])
    elif event in ("os.fork", "os.forkpty"):
        # a second process of this interpreter: what running Python itself needs
        check_run(rules, plugin, sys.executable)
    elif event == "fcntl.ioctl":
        if _arg(args, 1) in (TIOCSTI, TIOCLINUX) and not rules.may_run("sh"):
            raise deny(plugin, "run:sh", "type into the terminal (ioctl TIOCSTI)")
    elif event in ("os.putenv", "os.unsetenv"):
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        if not rules.may_set_env(name):
            raise deny(plugin, f"env:{name}", f"change the environment variable {name}")
    elif event.startswith("ctypes.") and not rules.ffi:
        if event == "ctypes.dlopen" and (not args or args[0] is None):
            return  # ``import ctypes`` opens the running program itself: harmless alone
        raise deny(plugin, "ffi", f"use ctypes ({event})")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _HANDLED and event[:7] != "ctypes.":
        return  # most events (compile, exec...) concern no permission
    if event == "import":
        if args[0] == "sqlite3.dbapi2":  # before it copies ``_sqlite3.connect``
            from jafhost.security import guard_sqlite

            guard_sqlite.patch_connect()
        return
    plugin = CURRENT_PLUGIN.get()
    if plugin is None:
        if not _POLICIES:
            return
        plugin = getattr(threading.current_thread(), THREAD_ATTRIBUTE, None)
        if plugin is None:
            return
    rules = getattr(plugin, "policy", None) or _POLICIES.get(plugin)
    if rules is None or getattr(_STATE, "busy", False):
        return
    _STATE.busy = True
    try:
        _check(event, args, plugin, rules)
    finally:
        _STATE.busy = False
