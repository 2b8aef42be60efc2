"""The operator's ceiling: deny rules that cap every plugin's grants.

An operator (``[policy] deny`` in ``config.toml``, ``/etc/jafhost/policy.toml``, the file
named by ``JAFHOST_POLICY``) lists permissions no plugin may use, in the ``[permissions]``
vocabulary: ``read:~/.ssh``, ``net:*.corp.example.com``, ``env:AWS_*``, ``run:*``,
``ffi``, ``observe``. A deny rule wins over any grant. Two questions are asked of it:

* about a grant (``inside``, ``limiting``): is it wholly inside a rule (then it is
  dropped before the guard's ``Policy`` and the worker's sandbox are built, and ``grant``
  refuses it), or broader than a rule (then it is kept but capped, shown by ``info``)?
* about one action (``path_rule``, ``net_rule``, ``env_rule``, ``run_rule``): which rule
  denies it? ``Policy`` asks these while plugin code runs, so what a broad grant still
  covers is refused where the kernel cannot subtract (Landlock only adds rights).

Paths compare as resolved real paths by whole components, hosts by the same patterns
as grants (``*.example.com``: subdomains, not the apex). This module reads no file: the
rules come from ``jafhost.home.operator_policy``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable
from functools import cached_property

from jafhost.errors import PermissionSyntaxError
from jafhost.frozen import Frozen
from jafhost.security.permissions import Permission, parse

PATH_KINDS = ("read", "write")
_WHICH: list[Callable[[str], str | None]] = []
"""``shutil.which``, bound when the first ``run`` rule is made: rules are made by host
code before any plugin code is checked against them, and a host without such a rule
(every ``jafhost call`` without a policy) does not import ``shutil`` at all."""


class DenyRule(Frozen):
    """One deny rule: as the operator wrote it, its canonical permission, and the file
    it comes from (named in every refusal)."""

    __slots__ = ("permission", "source", "text")
    _fields = ("text", "permission", "source")
    text: str
    permission: Permission
    source: str

    def __init__(self, text: str, permission: Permission, source: str) -> None:
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "permission", permission)
        object.__setattr__(self, "source", source)
        if permission.kind == "run" and not _WHICH:
            from shutil import which

            _WHICH.append(which)

    @classmethod
    def parse(cls, text: str, source: str) -> DenyRule:
        """``PermissionSyntaxError`` for a rule that is not a permission."""
        return cls(text.strip(), parse(text), source)

    @property
    def kind(self) -> str:
        return self.permission.kind

    @property
    def value(self) -> str:
        return self.permission.value

    def describe(self) -> str:
        """``policy rule read:~/.ssh (/etc/jafhost/policy.toml)``"""
        return f"policy rule {self.text} ({self.source})"

    def to_json(self) -> list[str]:
        return [self.text, self.source]


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _split_net(value: str) -> tuple[str, str]:
    """``host:port`` (canonical) as (host, port); ``*`` as any host, any port."""
    if value == "*":
        return "*", "*"
    host, _, port = value.rpartition(":")
    return host.strip("[]"), port


def _host_inside(host: str, rule: str) -> bool:
    """Every host matched by pattern ``host`` is matched by pattern ``rule``."""
    if rule == "*":
        return True
    if host == "*":
        return False
    if rule.startswith("*."):
        suffix = rule[1:]
        return host.endswith(suffix) and host != rule[2:]
    return host == rule


def _hosts_meet(host: str, rule: str) -> bool:
    """Some host is matched by both patterns."""
    return _host_inside(host, rule) or _host_inside(rule, host)


def matches_host(rule: str, name: str) -> bool:
    """Does the host pattern ``rule`` match the concrete ``name`` (a name or address)?"""
    return _host_inside(name, rule)


def _ports_inside(port: str, rule: str) -> bool:
    return rule == "*" or port == rule


def _ports_meet(port: str, rule: str) -> bool:
    return rule == "*" or port == "*" or port == rule


def _env_inside(pattern: str, rule: str) -> bool:
    # patterns are a name with at most a trailing ``*``: matching one pattern as a
    # plain string against the other answers "every name it matches"
    return fnmatch.fnmatchcase(pattern, rule)


def _run_rule_matches(rule: str, program: str) -> bool:
    """Does deny ``run:rule`` cover the program ``program`` (a name or a path)?"""
    if rule == "*":
        return True
    if "/" in rule:
        if "/" not in program:
            found = _WHICH[0](program)
            return found is not None and _real(found) == _real(rule)
        return _real(program) == _real(rule)
    return os.path.basename(program) == rule


def _within(kind: str, value: str, rule: DenyRule) -> bool:
    """Is the grant ``kind:value`` wholly inside ``rule``?"""
    if kind in PATH_KINDS and rule.kind in PATH_KINDS:
        # a write grant opens its files for reading too: a read rule covers it whole
        if value.startswith("$") or (kind == "read" and rule.kind == "write"):
            return False  # the plugin's own folders: never taken away
        return _under(_real(value), _real(rule.value))
    if kind != rule.kind:
        return False
    if kind == "net":
        host, port = _split_net(value)
        rule_host, rule_port = _split_net(rule.value)
        return _host_inside(host, rule_host) and _ports_inside(port, rule_port)
    if kind == "env":
        return _env_inside(value, rule.value)
    if kind == "run":
        return _run_rule_matches(rule.value, value)
    return True  # ffi, observe


class Ceiling(Frozen):
    """Every deny rule in force and the minimum isolation, with where each comes from.
    It keeps a ``__dict__``: its ``cached_property`` values live there."""

    _fields = ("rules", "isolation", "isolation_source")
    rules: tuple[DenyRule, ...]
    isolation: str | None
    """``process`` when a policy file demands workers for every plugin, else None."""
    isolation_source: str

    def __init__(
        self,
        rules: tuple[DenyRule, ...] = (),
        isolation: str | None = None,
        isolation_source: str = "",
    ) -> None:
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "isolation", isolation)
        object.__setattr__(self, "isolation_source", isolation_source)

    def __bool__(self) -> bool:
        return bool(self.rules) or self.isolation == "process"

    # -- about grants ---------------------------------------------------------------

    def inside(self, grant: str) -> DenyRule | None:
        """The rule a grant lies wholly inside (then nothing of it may be used)."""
        try:
            permission = parse(grant)
        except PermissionSyntaxError:
            return None
        kind, value = permission.kind, permission.value
        return next((rule for rule in self.rules if _within(kind, value, rule)), None)

    def limiting(self, grant: str) -> list[DenyRule]:
        """The rules that take part of a broader grant away (it is kept, but capped)."""
        if self.inside(grant) is not None:
            return []
        try:
            permission = parse(grant)
        except PermissionSyntaxError:
            return []
        kind, value = permission.kind, permission.value
        found: list[DenyRule] = []
        for rule in self.rules:
            if rule.kind != kind:
                continue
            if kind in PATH_KINDS:
                if not value.startswith("$") and _under(_real(rule.value), _real(value)):
                    found.append(rule)
            elif kind == "net":
                host, port = _split_net(value)
                rule_host, rule_port = _split_net(rule.value)
                if _hosts_meet(host, rule_host) and _ports_meet(port, rule_port):
                    found.append(rule)
            elif kind == "env":
                if fnmatch.fnmatchcase(rule.value, value) or _env_inside(value, rule.value):
                    found.append(rule)
            elif kind == "run" and "/" in rule.value and "/" not in value:
                found.append(rule)  # a program by name may resolve to the denied path
        return found

    def cap(self, grants: Iterable[str]) -> list[str]:
        """``grants`` without those wholly inside a rule: what a worker's sandbox and
        the guard are built from (the rest of each rule is checked by the guard)."""
        return [grant for grant in grants if self.inside(grant) is None]

    # -- about one action -------------------------------------------------------------

    @cached_property
    def _paths(self) -> tuple[tuple[DenyRule, str], ...]:
        """The path rules with their real paths, resolved once (as grants are)."""
        return tuple((rule, _real(rule.value)) for rule in self.rules if rule.kind in PATH_KINDS)

    def path_rule(self, kind: str, path: str) -> DenyRule | None:
        """The rule denying ``kind`` (``read``/``write``) of ``path`` (already real); a
        read rule denies writing too (what is opened for writing can be read)."""
        kinds = ("read", "write") if kind == "write" else ("read",)
        for rule, real_path in self._paths:
            if rule.kind in kinds and _under(path, real_path):
                return rule
        return None

    def net_rule(self, name: str, port: int | None) -> DenyRule | None:
        """The rule denying a connection (or lookup) of ``name`` at ``port``."""
        for rule in self.rules:
            if rule.kind != "net":
                continue
            host, rule_port = _split_net(rule.value)
            if matches_host(host, name) and (
                rule_port == "*" or port is None or str(port) == rule_port
            ):
                return rule
        return None

    def env_rule(self, name: str) -> DenyRule | None:
        for rule in self.rules:
            if rule.kind == "env" and fnmatch.fnmatchcase(name, rule.value):
                return rule
        return None

    def run_rule(self, program: str) -> DenyRule | None:
        for rule in self.rules:
            if rule.kind == "run" and _run_rule_matches(rule.value, program):
                return rule
        return None

    def flag_rule(self, kind: str) -> DenyRule | None:
        return next((rule for rule in self.rules if rule.kind == kind), None)

    def rule_for(self, permission: str) -> DenyRule | None:
        """The rule behind a denial the guard reports as ``permission`` (``read:/x``,
        ``net:host:port``, ``env:NAME``, ``run:git``, ``ffi``), if one is."""
        kind, _, value = permission.partition(":")
        if kind in PATH_KINDS:
            return self.path_rule(kind, value)
        if kind == "net":
            host, port = _split_net(value)
            return self.net_rule(host, int(port) if port.isdigit() else None)
        if kind == "env":
            return self.env_rule(value)
        if kind == "run":
            return self.run_rule(value)
        return self.flag_rule(kind)

    # -- across the worker's pipe -------------------------------------------------------

    def to_json(self) -> list[list[str]]:
        return [rule.to_json() for rule in self.rules]

    @classmethod
    def from_json(cls, data: Iterable[Iterable[str]]) -> Ceiling:
        rules = []
        for text, source in (tuple(item) for item in data):
            rules.append(DenyRule.parse(text, source))
        return cls(tuple(rules))


NO_CEILING = Ceiling()
