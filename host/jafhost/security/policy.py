"""What one plugin may do, compiled from its grants into fast checks.

Grants are canonical permission strings (``read:/home/u/notes``, ``net:*.example.com:*``).
A ``Policy`` answers "may this plugin read this path / connect to this address / run
this program / set this variable / use ctypes?" and, when the answer is no, names the
permission that would have allowed it.

Paths are compared as resolved real paths by whole components, so ``/data/a`` does not
cover ``/data/ab`` and neither a symlink nor ``..`` leads out of a granted folder. A
plugin may always read and write its own data and cache folders, and read the Python
installation and its import path (it could not import anything otherwise), but never the
working folder, the embedding program's folder or another folder plugin's folder, even
when they are on the import path (``private_entry``): a folder plugin reads its own
package folder and only lists the plugin folder holding it and its siblings.

A grant naming a path under a folder the plugin may write (its own folders, another
write grant) is resolved with care (``confined``): the plugin could have replaced a
folder there with a link to anywhere, so a link there leading out of that folder drops
the grant (``Policy.dropped`` says which and why) rather than granting its target.

The operator's deny rules (``ceiling``) cap the grants: a grant wholly inside a rule is
dropped before anything is compiled, and every check below refuses what a rule names,
except in the folders a plugin always has (``exempt``: its own folders and package, the
Python installation, the system files the standard library reads).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import sys
from collections.abc import Iterable
from typing import Any

from jafhost.frozen import Frozen
from jafhost.security.ceiling import NO_CEILING, Ceiling, DenyRule

SYSTEM_READABLE = (
    "/dev/null",
    "/dev/urandom",
    "/dev/random",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/etc/mime.types",
)
"""Files so commonly read by the standard library that denying them only breaks things."""

NETWORK_READABLE = (
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/usr/lib/ssl",
    "/usr/share/ca-certificates",
)
"""Read by name resolution and TLS; readable for plugins granted any network access."""

ENV_VISIBLE = (
    *("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR"),
    *("MALLOC_ARENA_MAX", "PYDANTIC_DISABLE_PLUGINS"),
)
ENV_VISIBLE_PREFIXES = ("LC_", "PYTHON")
ENV_NET_VISIBLE = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Environment variables every plugin sees without an ``env`` grant (those with a ``net``
grant also the TLS trust settings): what Python needs, as in a worker's environment
(``sandbox/env.py``). Proxy variables can hold credentials: only when granted."""


def real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def covers(prefixes: tuple[str, ...], path: str) -> bool:
    """True if ``path`` (already real) is one of ``prefixes`` or below one of them."""
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


MAX_LINKS = 40
"""Links followed while resolving one grant path (the kernel's own limit)."""


def confined(path: str, roots: tuple[str, ...]) -> tuple[str | None, str]:
    """Resolve ``path`` (absolute) as the kernel would, one component at a time, and
    return ``(real path, "")``; or ``(None, why)`` when a link found in one of the
    writable ``roots`` (real paths) leads out of every root holding it: a link the
    plugin itself may have planted to turn a grant on its own folder into one on
    anything."""
    todo = list(reversed(_parts(path)))
    current = "/"
    links = 0
    while todo:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)
            continue
        step = os.path.join(current, name)
        if not os.path.islink(step):
            current = step
            continue
        links += 1
        if links > MAX_LINKS:
            return None, f"too many links resolving {path}"
        holding = tuple(root for root in roots if covers((root,), current))
        if holding and not covers(holding, os.path.realpath(step)):
            target = os.path.realpath(step)
            return None, f"{step} is a link out of the writable folder {holding[0]} (to {target})"
        target = os.readlink(step)
        if target.startswith("/"):
            current = "/"
        todo.extend(reversed(_parts(target)))
    return current, ""


def _parts(path: str) -> list[str]:
    """The names ``path`` goes through, as ``pathlib`` splits it (no root, no empty or
    ``.`` component; ``..`` kept): string work, so the worker needs no ``pathlib``."""
    return [name for name in path.split("/") if name and name != "."]


def _parent(path: str) -> str:
    """``Path(path).parent`` as a string (``..`` is not resolved, as there)."""
    root = "/" if path.startswith("/") else ""
    return root + "/".join(_parts(path)[:-1]) or "."


_PLUGIN_FOLDERS: set[str] = set()


def keep_private(folders: Iterable[str]) -> None:
    """Note folder plugins' plugin folders: on the import path, yet not part of the Python
    installation, so no plugin but their own reads them (``own_folders`` gives each its own)."""
    _PLUGIN_FOLDERS.update(real(folder) for folder in folders)


def program_folder() -> str | None:
    """The folder of the script Python was started with (``sys.path[0]``, which often holds
    the embedding program's ``.env``), or None when started with ``-m`` or ``-c``."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if main is None or getattr(main, "__spec__", None) is not None or not script:
        return None
    return os.path.dirname(real(script))


def private_entry(entry: str, cwd: str | None = None, program: str | None = None) -> bool:
    """True if an import path entry is no part of the Python installation a plugin may
    read: the working folder or a folder holding it, a folder plugin's plugin folder, the
    embedding program's own folder (what lies under ``sys.prefix`` stays readable).
    ``cwd`` and ``program``, when given, are the real working and program folders."""
    path = real(entry)
    cwd = real(os.getcwd()) if cwd is None else cwd
    program = program_folder() if program is None else program
    return covers((path,), cwd) or path in _PLUGIN_FOLDERS or path == program


def python_paths() -> list[str]:
    """The interpreter's installation and import path: always readable (``private_entry``
    excepted)."""
    cwd = real(os.getcwd())  # however the path names it: a link leads there too
    program = program_folder() or ""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for entry in sys.path:
        usable = entry and os.path.isabs(entry) and os.path.exists(entry)
        if usable and not private_entry(entry, cwd, program):
            found.add(entry)
    return sorted(found)


class NetRule(Frozen):
    __slots__ = ("host", "port")
    _fields = ("host", "port")
    host: str  # "*", "name", "*.suffix", an IP literal
    port: int | None  # None: any port

    def __init__(self, host: str, port: int | None) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)

    def matches_port(self, port: int | None) -> bool:
        return self.port is None or port == self.port

    def matches_host(self, host: str) -> bool:
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host


class Policy:
    """The compiled grants of one plugin.

    A plain class, not a dataclass: every worker and every in-process call imports it
    before the guard is armed, and a dataclass compiles its methods at import.

    ``resolved``: IP address -> host names it was resolved from by an allowed lookup.
    ``listable``: folders that may be listed, though not read beyond that (``may_list``).
    ``dropped``: grants not applied, each with why: their path leads through a link out
    of a folder the plugin may write (``confined``).
    ``ceiling``: the operator's deny rules, checked before the grants.
    ``host_home``: jafhost's home (its state, config, caches): never written by the
    plugin but inside ``own``, whatever a grant covers (in process; ``compile``'s
    ``home``).
    ``own``: the plugin's own data and cache folders.
    ``exempt``: folders no deny rule takes away: the plugin's own folders and package,
    the Python installation, the system files every plugin reads.
    """

    _fields = (
        "plugin",
        "read",
        "write",
        "net",
        "env",
        "run",
        "ffi",
        "resolved",
        "listable",
        "dropped",
        "ceiling",
        "host_home",
        "own",
        "exempt",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable (``resolved``), compared by value

    def __init__(
        self,
        plugin: str,
        read: tuple[str, ...] = (),
        write: tuple[str, ...] = (),
        net: tuple[NetRule, ...] = (),
        env: tuple[str, ...] = (),
        run: tuple[str, ...] = (),
        ffi: bool = False,
        resolved: dict[str, set[str]] | None = None,
        listable: tuple[str, ...] = (),
        dropped: tuple[str, ...] = (),
        ceiling: Ceiling = NO_CEILING,
        host_home: str | None = None,
        own: tuple[str, ...] = (),
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.plugin = plugin
        self.read = read
        self.write = write
        self.net = net
        self.env = env
        self.run = run
        self.ffi = ffi
        self.resolved: dict[str, set[str]] = {} if resolved is None else resolved
        self.listable = listable
        self.dropped = dropped
        self.ceiling = ceiling
        self.host_home = host_home
        self.own = own
        self.exempt = exempt

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Policy)
        return self._values() == other._values()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"Policy({shown})"

    @classmethod
    def compile(
        cls,
        plugin: str,
        grants: Iterable[str],
        data_dir: str | os.PathLike[str],
        cache_dir: str | os.PathLike[str] | None = None,
        extra_read: Iterable[str] = (),
        extra_list: Iterable[str] = (),
        ceiling: Ceiling | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> Policy:
        ceiling = ceiling or NO_CEILING
        read: set[str] = set()
        write: set[str] = set()
        net: list[NetRule] = []
        env: list[str] = []
        run: list[str] = []
        ffi = False
        data = os.fspath(data_dir)
        cache = os.fspath(cache_dir) if cache_dir else None
        own = [data] + ([cache] if cache else [])

        def expand(value: str) -> str:
            if value.startswith("$PLUGIN_DATA"):
                value = real(data) + value[len("$PLUGIN_DATA") :]
            elif value.startswith("$PLUGIN_CACHE"):
                base = cache or os.path.join(_parent(data), "cache")
                value = real(base) + value[len("$PLUGIN_CACHE") :]
            return os.path.normpath(os.path.abspath(os.path.expanduser(value)))

        grants = ceiling.cap(grants)
        paths = [
            (grant, kind, expand(value))
            for grant in grants
            for kind, _, value in [grant.partition(":")]
            if kind in ("read", "write")
        ]
        # the plugin's own folders first, then the write grants they leave intact: a
        # grant under either must resolve inside it
        roots = tuple(real(p) for p in own)
        for _grant, kind, path in paths:
            if kind == "write":
                found, _ = confined(path, roots)
                roots += (found,) if found else ()
        dropped: list[str] = []
        for grant, kind, path in paths:
            found, why = confined(path, roots)
            if found is None:
                dropped.append(f"{grant}: {why}")
            else:
                (read if kind == "read" else write).add(found)
        for grant in grants:
            kind, _, value = grant.partition(":")
            if kind == "net":
                net.append(_net_rule(value))
            elif kind == "env":
                env.append(value)
            elif kind == "run":
                run.append(value)
            elif kind == "ffi":
                ffi = True
        always = {real(p) for p in own}
        write.update(always)
        write.add("/dev/null")  # subprocess.DEVNULL opens it read-write
        read.update(write)
        listable = tuple(sorted(real(p) for p in extra_list))
        # a worker's import path ends with its plugin folder, listed but never read
        always.update(p for p in map(real, python_paths()) if p not in listable)
        always.update(real(p) for p in extra_read)
        always.update(SYSTEM_READABLE)
        if net:
            always.update(NETWORK_READABLE)
        always.add("/dev/null")
        read.update(always)
        return cls(
            plugin,
            tuple(sorted(read)),
            tuple(sorted(write)),
            tuple(net),
            tuple(env),
            tuple(run),
            ffi,
            listable=listable,
            dropped=tuple(dropped),
            ceiling=ceiling,
            exempt=tuple(sorted(always)),
            host_home=real(os.fspath(home)) if home is not None else None,
            own=roots[: len(own)],
        )

    # -- files ----------------------------------------------------------------------

    def denial(self, kind: str, path: str) -> DenyRule | None:
        """The deny rule refusing ``kind`` (``read``/``write``) of ``path`` (real), if
        one does: never in the folders a plugin always has (``exempt``)."""
        if not self.ceiling.rules or covers(self.exempt, path):
            return None
        return self.ceiling.path_rule(kind, path)

    def may_read(self, path: str) -> bool:
        found = real(path)
        return covers(self.read, found) and self.denial("read", found) is None

    def may_list(self, path: str) -> bool:
        """May the plugin list the folder ``path``: one it may read, or exactly one of
        the ``listable`` folders (a folder plugin's plugin folder, which the import
        system lists to find its package; its siblings' files stay unreadable)."""
        found = real(path)
        if found in self.listable:
            return True
        return covers(self.read, found) and self.denial("read", found) is None

    def may_write(self, path: str) -> bool:
        found = real(path)
        if not covers(self.write, found):
            return False
        home = () if self.host_home is None else (self.host_home,)
        if covers(home, found) and not covers(self.own, found):
            return False  # its grants live there (state.json): no way to more grants
        return self.denial("write", found) is None  # a read rule denies writing too

    def may_move(self, path: str) -> bool:
        """May the plugin move or remove ``path``: what it may write, but never a folder
        holding jafhost's home (moved aside, a home of its own making, with other grants,
        could take its place)."""
        if not self.may_write(path):
            return False
        return self.host_home is None or not covers((real(path),), self.host_home)

    # -- network --------------------------------------------------------------------

    def may_resolve(self, host: str, port: int | None) -> bool:
        """May the plugin look up ``host`` (a name or literal) for ``port``?"""
        name = _normal_host(host)
        if self.ceiling.net_rule(name, port) is not None:
            return False
        return any(
            r.matches_host(name) and (port is None or r.matches_port(port)) for r in self.net
        )

    def note_resolved(self, host: str, addresses: Iterable[str]) -> None:
        name = _normal_host(host)
        for address in addresses:
            self.resolved.setdefault(_normal_host(address), set()).add(name)

    def may_connect(self, host: str, port: int | None) -> bool:
        """May the plugin connect to ``host`` (usually an IP) at ``port``?"""
        address = _normal_host(host)
        names = {address} | self.resolved.get(address, set())
        if any(self.ceiling.net_rule(name, port) is not None for name in names):
            return False
        return any(r.matches_host(n) and r.matches_port(port) for r in self.net for n in names)

    # -- environment, programs ------------------------------------------------------

    def may_set_env(self, name: str) -> bool:
        if self.ceiling.env_rule(name) is not None:
            return False
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.env)

    def may_read_env(self, name: str) -> bool:
        if name in ENV_VISIBLE or name.startswith(ENV_VISIBLE_PREFIXES):
            return True
        if self.net and name in ENV_NET_VISIBLE:
            return True
        return self.may_set_env(name)

    def may_run(self, program: str) -> bool:
        if self.ceiling.run_rule(program) is not None:
            return False
        name = os.path.basename(program)
        resolved = real(program) if "/" in program else None
        for grant in self.run:
            if "/" in grant:
                if resolved is not None and resolved == real(grant):
                    return True
            elif grant == name:
                return True
        return False


def _normal_host(host: str) -> str:
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return text


def _net_rule(value: str) -> NetRule:
    if value == "*":
        return NetRule("*", None)
    host, _, port = value.rpartition(":")
    return NetRule(_normal_host(host), None if port == "*" else int(port))
