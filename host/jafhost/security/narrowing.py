"""An agent's policy for one plugin, applied to its grants: what that plugin may do in
the tool calls of that agent's runs.

``narrow(grants, kinds)`` is the whole rule, a pure function: a kind listed in the
policy keeps only what both a grant and a policy entry cover (an empty list: nothing of
that kind), a kind not listed keeps its grants. "Both cover" is an intersection of
coverage, not of strings: ``read:/data`` granted and ``read:/data/a`` allowed give
``read:/data/a``; ``net:*.example.com:443`` and ``net:api.example.com:*`` give
``net:api.example.com:443``. Paths are compared by whole components on resolved paths,
resolved as ``Policy.compile`` resolves grants (``confined``), so a link the plugin
planted in a folder it may write leads nowhere; host patterns, ports, environment
variable patterns and programs are matched as the ``Policy`` matches them. The result
is never more than the grants.

``Narrowing`` carries the narrowed grants of one call, with what a denial says: the
agent and its policy (``hint``), not a ``jafhost grant`` command that could not help.
``NARROWED`` holds, for the call being routed, the narrowings of the plugins the
agent's policy names; ``effective`` is the identity plugin code runs under in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from jafhost.errors import PermissionSyntaxError, quoted
from jafhost.security import permissions
from jafhost.security.guard import PluginIdentity
from jafhost.security.policy import Policy, _normal_host, confined, covers, real

# -- the rule ----------------------------------------------------------------------------


def allowed_entries(kind: str, entries: Iterable[str]) -> list[str]:
    """A policy's entries for ``kind`` as canonical values: each is a permission string
    (``read:/data/a``) or a bare value as the ``[permissions]`` table spells it
    (``/data/a``; ``true`` for ``ffi`` and ``observe``). ``PermissionSyntaxError`` names
    the entry at fault."""
    if kind not in permissions.KINDS:
        raise PermissionSyntaxError(
            f"unknown permission kind {quoted(kind)} (known: {', '.join(permissions.KINDS)})"
        )
    values: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise PermissionSyntaxError(f"{kind}: {entry!r} is not a string")
        text = entry.strip()
        if kind in permissions.FLAGS:
            if text not in (kind, "true"):
                raise PermissionSyntaxError(f"{kind}: {quoted(entry)} (use {kind!r} or 'true')")
            values.append("")
            continue
        if text.startswith(kind + ":"):
            text = text[len(kind) + 1 :]
        values.append(permissions.make(kind, text).value)
    return values


@dataclass(frozen=True)
class _Paths:
    """Path values resolved as ``Policy.compile`` resolves grants: ``$PLUGIN_DATA`` and
    ``$PLUGIN_CACHE`` expanded, then one component at a time, a link inside a folder the
    plugin may write leading out of it dropping the path."""

    data_dir: Path | None
    cache_dir: Path | None
    roots: tuple[str, ...] = ()

    def expand(self, value: str) -> str | None:
        for variable, folder in (
            ("$PLUGIN_DATA", self.data_dir),
            ("$PLUGIN_CACHE", self.cache_dir),
        ):
            if value == variable or value.startswith(variable + "/"):
                if folder is None:
                    return None
                return real(str(folder)) + value[len(variable) :]
        return value

    def resolve(self, value: str) -> str | None:
        path = self.expand(value)
        if path is None:
            return None
        found, _ = confined(os.path.normpath(path), self.roots)
        return found


def _writable_roots(grants: Sequence[str], paths: _Paths) -> tuple[str, ...]:
    """The folders the plugin may write, as ``Policy.compile`` finds them: its own, then
    each write grant that resolves inside the ones found so far."""
    roots = tuple(real(str(d)) for d in (paths.data_dir, paths.cache_dir) if d is not None)
    for grant in grants:
        kind, _, value = grant.partition(":")
        if kind == "write":
            expanded = paths.expand(value)
            if expanded is not None:
                found, _ = confined(os.path.normpath(expanded), roots)
                roots += (found,) if found else ()
    return roots


def _paths(granted: list[str], allowed: list[str], paths: _Paths) -> list[str]:
    found: list[str] = []
    for grant in granted:
        have = paths.resolve(grant)
        if have is None:
            continue
        for entry in allowed:
            want = paths.resolve(entry)
            if want is None:
                continue
            if covers((have,), want):
                found.append(want)
            elif covers((want,), have):
                found.append(have)
    return found


def _split_net(value: str) -> tuple[str, str]:
    if value == "*":
        return "*", "*"
    host, _, port = value.rpartition(":")
    return host, port


def _hosts(granted: str, allowed: str) -> str | None:
    """The host pattern both cover: ``*``, a name, ``*.suffix`` or an address literal."""
    if granted == "*":
        return allowed
    if allowed == "*":
        return granted
    for wide, narrow in ((granted, allowed), (allowed, granted)):
        if wide.startswith("*."):
            suffix = wide[1:]
            if narrow.startswith("*."):
                if narrow == wide or narrow.endswith(suffix):
                    return narrow
            elif narrow.endswith(suffix) and narrow != wide[2:]:
                return narrow
    if _normal_host(granted) == _normal_host(allowed) and not granted.startswith("*."):
        return granted
    return None


def _net(granted: list[str], allowed: list[str]) -> list[str]:
    found: list[str] = []
    for grant in granted:
        g_host, g_port = _split_net(grant)
        for entry in allowed:
            a_host, a_port = _split_net(entry)
            host = _hosts(g_host, a_host)
            if host is None or (g_port != "*" and a_port != "*" and g_port != a_port):
                continue
            port = a_port if g_port == "*" else g_port
            found.append("*" if host == "*" and port == "*" else f"{host}:{port}")
    return found


def _names(granted: str, allowed: str) -> str | None:
    """The environment variables both patterns cover (``NAME``, ``PREFIX*``, ``*``)."""
    for wide, narrow in ((granted, allowed), (allowed, granted)):
        if wide.endswith("*"):
            prefix = wide[:-1]
            if narrow.endswith("*"):
                if narrow[:-1].startswith(prefix):
                    return narrow
            elif narrow.startswith(prefix):
                return narrow
    return granted if granted == allowed else None


def _env(granted: list[str], allowed: list[str]) -> list[str]:
    return [n for g in granted for a in allowed if (n := _names(g, a)) is not None]


def _programs(granted: str, allowed: str) -> str | None:
    """A grant without ``/`` allows any program of that name, one with ``/`` that very
    file; the policy's ``*`` allows whatever is granted (a grant ``*`` names a program
    called ``*``, as ``Policy.may_run`` reads it)."""
    if allowed == "*":
        return granted
    if "/" in granted and "/" in allowed:
        return granted if real(granted) == real(allowed) else None
    if "/" in allowed:
        return allowed if os.path.basename(allowed) == granted else None
    if "/" in granted:
        return granted if os.path.basename(granted) == allowed else None
    return granted if granted == allowed else None


def _run(granted: list[str], allowed: list[str]) -> list[str]:
    return [n for g in granted for a in allowed if (n := _programs(g, a)) is not None]


def narrow(
    grants: Iterable[str],
    kinds: Mapping[str, Sequence[str]],
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> list[str]:
    """``grants`` (canonical strings) narrowed by a policy (``kinds``: kind -> allowed
    entries, see ``allowed_entries``): canonical strings, sorted, never more than the
    grants. ``data_dir``/``cache_dir`` give ``$PLUGIN_DATA``/``$PLUGIN_CACHE`` their
    place; without them a path under either is left out of a listed kind."""
    grants = list(grants)
    by_kind: dict[str, list[str]] = {}
    for grant in grants:
        kind, _, value = grant.partition(":")
        by_kind.setdefault(kind, []).append(value)
    allowed = {kind: allowed_entries(kind, entries) for kind, entries in kinds.items()}
    paths = _Paths(data_dir, cache_dir)
    paths = _Paths(data_dir, cache_dir, _writable_roots(grants, paths))
    result: list[str] = []
    for kind, values in by_kind.items():
        if kind not in allowed:
            result.extend(f"{kind}:{v}" if v or kind not in permissions.FLAGS else kind
                          for v in values)  # fmt: skip
            continue
        wanted = allowed[kind]
        if kind in permissions.FLAGS:
            kept = [""] if wanted else []
        elif kind in ("read", "write"):
            kept = _paths(values, wanted, paths)
        elif kind == "net":
            kept = _net(values, wanted)
        elif kind == "env":
            kept = _env(values, wanted)
        else:
            kept = _run(values, wanted)
        result.extend(kind if kind in permissions.FLAGS else f"{kind}:{v}" for v in kept)
    return sorted(set(result))


# -- one call's narrowing ----------------------------------------------------------------


def would_allow(rules: Policy, permission: str) -> bool:
    """Whether ``rules`` allow ``permission`` as a denial names it (``read:/real/path``,
    ``net:host:port``, ``env:NAME``, ``run:program``, ``ffi``)."""
    kind, _, value = permission.partition(":")
    if kind == "read":
        return rules.may_read(value)
    if kind == "write":
        return rules.may_write(value)
    if kind == "net":
        host, port = _split_net(value)
        number = int(port) if port.isdigit() else None
        return rules.may_connect(host, number) or rules.may_resolve(host, number)
    if kind == "env":
        return rules.may_read_env(value) or rules.may_set_env(value)
    if kind == "run":
        return rules.may_run(value)
    if kind == "ffi":
        return rules.ffi
    return False


@dataclass
class Narrowing:
    """One plugin's grants narrowed by one agent's policy, for that agent's calls."""

    agent: str
    plugin: str
    kinds: Mapping[str, tuple[str, ...]]
    """The policy: kind -> allowed entries, as the agent's profile gives them."""
    grants: tuple[str, ...]
    """The narrowed grants (what the calls run with)."""
    full: Policy | None = None
    """The plugin's own grants compiled, to tell a denial the policy made from one
    the grants make anyway."""
    identity: PluginIdentity | None = None
    """In process: the identity its code runs under in these calls (``NarrowedIdentity``)."""
    base: str | None = field(default=None, repr=False)
    """In process: the identity it runs under outside them."""

    def allowed(self, kind: str) -> str:
        entries = self.kinds.get(kind, ())
        if kind in permissions.FLAGS:
            return kind if entries else f"no {kind}"
        shown = [e if e.startswith(kind + ":") else f"{kind}:{e}" for e in entries]
        return ", ".join(shown) if shown else f"no {kind}"

    def describe(self) -> str:
        return f"agent {self.agent}'s policy for plugin {self.plugin}"

    def hint(self, permission: str) -> str | None:
        """What a denial of ``permission`` says when this policy made it (the plugin's
        own grants would have allowed it), else None."""
        kind = permission.partition(":")[0]
        if kind not in self.kinds or self.full is None or not would_allow(self.full, permission):
            return None
        return f"denied by {self.describe()}, which allows {self.allowed(kind)}"

    def explain(self, message: str, permission: str) -> str:
        """A denial's message (the guard's, in a worker) with the policy named instead
        of a ``jafhost grant`` hint."""
        hint = self.hint(permission)
        if hint is None:
            return message
        head, sep, _ = message.rpartition(" (to allow it: jafhost grant")
        return f"{head if sep else message} ({hint})"


class NarrowedIdentity(PluginIdentity):
    """A plugin's identity in an agent's calls: its narrowed ``Policy``, the identity it
    has outside them (``base``: its event loop, its denials counted as its own) and the
    ``narrowing`` a denial names."""

    base: str
    narrowing: Narrowing

    def __new__(cls, base: str, policy: Policy, narrowing: Narrowing) -> NarrowedIdentity:
        identity = str.__new__(cls, str.__str__(base))
        identity.policy = policy
        identity.base = base
        identity.narrowing = narrowing
        return identity

    def denial_hint(self, permission: str) -> str | None:
        return self.narrowing.hint(permission)


NARROWED: ContextVar[Mapping[str, Narrowing] | None] = ContextVar("jafhost_narrowed", default=None)
"""The narrowings in force for the tool call being routed, by plugin name (None: none)."""


def narrowing_of(plugin: str) -> Narrowing | None:
    found = NARROWED.get()
    return None if found is None else found.get(str.__str__(plugin))


def effective(identity: str) -> str:
    """The identity plugin code known as ``identity`` runs under in this call: its
    narrowed one when the call's agent policy names it, else ``identity`` itself."""
    return effective_in(NARROWED.get(), identity)


def effective_in(found: Mapping[str, Narrowing] | None, identity: str) -> str:
    """``effective`` for the narrowings ``found`` (read earlier, in another context)."""
    if not found:
        return identity
    narrowing = found.get(str.__str__(identity))
    if narrowing is None or narrowing.identity is None or narrowing.base is not identity:
        return identity
    return narrowing.identity


def base_of(identity: str | None) -> str | None:
    """The identity a narrowed one stands for (any other as it is)."""
    return getattr(identity, "base", identity)


def policy_of(grants: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """A narrowed grant set as a policy listing every kind: ``narrow(g, policy_of(s))``
    is what of ``s`` the grants ``g`` still cover (a worker restarted after a change of
    grants never gets more than the set it was made for, nor more than the grants)."""
    kinds: dict[str, list[str]] = {kind: [] for kind in permissions.KINDS}
    for grant in grants:
        kind, _, value = grant.partition(":")
        kinds[kind].append(kind if kind in permissions.FLAGS else value)
    return {kind: tuple(values) for kind, values in kinds.items()}
