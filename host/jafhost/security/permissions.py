"""The permission vocabulary: parsing, canonical strings, and what covers what.

Permissions follow Deno's vocabulary (``read``, ``write``, ``net``, ``env``, ``run``,
``ffi``). Each has one canonical string, ``kind:value``, used in the state file, the
CLI, JSON output and error messages, so the same permission never appears under two
spellings:

* ``read:/home/u/notes``, ``write:$PLUGIN_DATA/cache`` (``~`` expanded, paths
  normalised; ``$PLUGIN_DATA``/``$PLUGIN_CACHE`` stay symbolic because their value
  depends on where the host keeps its home)
* ``net:api.example.com:443``, ``net:127.0.0.1:*`` (any port), ``net:*.example.com:*``,
  ``net:[::1]:8080``, ``net:*`` (any host)
* ``env:WEATHER_API_KEY``, ``env:AWS_*``
* ``run:git``, ``run:/usr/bin/git``
* ``ffi``
* ``observe`` (see other plugins' tool calls through middleware, and the host's events
  about them)
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from typing import Literal

from jafhost.errors import PermissionSyntaxError, quoted
from jafhost.frozen import Ordered

Kind = Literal["read", "write", "net", "env", "run", "ffi", "observe"]
KINDS: tuple[Kind, ...] = ("read", "write", "net", "env", "run", "ffi", "observe")
FLAGS = ("ffi", "observe")
"""The kinds that take no value: granted or not."""
PATH_VARIABLES = ("$PLUGIN_DATA", "$PLUGIN_CACHE")
PATH_MAX = 4096
"""The longest path a permission may name (Linux's own limit)."""

EXPLANATIONS: dict[str, str] = {
    "read": "read files and folders under {value}",
    "write": "create, change and delete files under {value}",
    "net": "open network connections to {value}",
    "env": "see the environment variable {value}",
    "run": "start the program {value}",
    "ffi": "load native libraries (ctypes/cffi): can bypass every other check",
    "observe": "see every tool call of other plugins (with their arguments, through "
    "middleware that can change them) and the host's events about other plugins",
}

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?$|^\*$")


class Permission(Ordered):
    """One permission in canonical form. ``str()`` gives ``kind:value`` (or ``ffi``,
    ``observe``)."""

    __slots__ = ("kind", "value")
    _fields = ("kind", "value")
    kind: str
    value: str

    def __init__(self, kind: str, value: str = "") -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", value)

    def __str__(self) -> str:
        return self.kind if self.kind in FLAGS else f"{self.kind}:{self.value}"

    def explain(self) -> str:
        """A plain-words description for the approval prompt."""
        return EXPLANATIONS[self.kind].format(value=self.value or "")


def _printable(raw: str, what: str) -> str:
    """``raw``, refused when it holds a control character: a permission is shown to the
    user for approval, and terminal escapes in it could hide what it asks for."""
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise PermissionSyntaxError(f"{what} {quoted(raw)} holds a control character")
    return raw


def normalize_path(raw: str) -> str:
    """Expand ``~`` and normalise; keep ``$PLUGIN_DATA``-style prefixes symbolic."""
    raw = _printable(raw, "path")
    if not isinstance(raw, str) or not raw.strip():
        raise PermissionSyntaxError("a path must be a non-empty string")
    text = raw.strip()
    if len(text) > PATH_MAX:
        raise PermissionSyntaxError(f"path {quoted(raw)} is longer than {PATH_MAX} characters")
    for variable in PATH_VARIABLES:
        if text == variable or text.startswith(variable + "/"):
            rest = os.path.normpath(text[len(variable) :].strip("/") or ".")
            if rest == ".." or rest.startswith("../"):
                raise PermissionSyntaxError(f"path {quoted(raw)} leads out of {variable}")
            return variable + ("" if rest == "." else "/" + rest)
    if text.startswith("$"):
        raise PermissionSyntaxError(
            f"unknown variable in path {quoted(raw)} (known: {', '.join(PATH_VARIABLES)})"
        )
    if text.startswith("~"):
        text = os.path.expanduser(text)
    if not os.path.isabs(text):
        raise PermissionSyntaxError(
            f"path {quoted(raw)} is relative: use an absolute path, ~/... or $PLUGIN_DATA"
        )
    normalized = os.path.normpath(text)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return normalized


def _normalize_hostname(host: str, raw: str) -> str:
    if host == "*":
        return host
    if host.startswith("[") and host.endswith("]"):
        try:
            return "[" + str(ipaddress.IPv6Address(host[1:-1])) + "]"
        except ValueError as exc:
            raise PermissionSyntaxError(f"bad IPv6 address in {quoted(raw)}") from exc
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"[{address}]" if address.version == 6 else str(address)
    name = host.lower().rstrip(".")
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise PermissionSyntaxError(f"wildcard {quoted(raw)} must name a domain: *.example.com")
    if not labels or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise PermissionSyntaxError(f"bad host name in {quoted(raw)}")
    return name


def normalize_net(raw: str) -> str:
    """Parse ``host``, ``host:port``, ``host:*``, ``[v6]:port`` into ``host:port|*``."""
    raw = _printable(raw, "host")
    if not isinstance(raw, str) or not raw.strip():
        raise PermissionSyntaxError("a host must be a non-empty string")
    text = raw.strip()
    if text == "*":
        return "*"
    host, port = text, "*"
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise PermissionSyntaxError(f"unclosed '[' in {quoted(raw)}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise PermissionSyntaxError(f"bad port in {quoted(raw)}")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif text.count(":") > 1:
        host = text  # a bare IPv6 literal: any port
    if port != "*":
        if not (port.isascii() and port.isdigit()):
            raise PermissionSyntaxError(f"bad port {quoted(port)} in {quoted(raw)} (1-65535 or *)")
        if not 0 < int(port) < 65536:
            raise PermissionSyntaxError(
                f"port {int(port)} in {quoted(raw)} is out of range 1-65535 (or * for any)"
            )
        port = str(int(port))
    return f"{_normalize_hostname(host, raw)}:{port}"


def normalize_env(raw: str) -> str:
    raw = _printable(raw, "environment variable")
    if not isinstance(raw, str) or not _ENV_NAME.fullmatch(raw):
        raise PermissionSyntaxError(f"bad environment variable name {quoted(raw)}")
    return raw


def normalize_run(raw: str) -> str:
    raw = _printable(raw, "program")
    if not isinstance(raw, str) or not raw.strip() or any(c.isspace() for c in raw.strip()):
        raise PermissionSyntaxError(f"bad program name {quoted(raw)} (a name or an absolute path)")
    text = raw.strip()
    if "/" in text and not os.path.isabs(os.path.expanduser(text)):
        raise PermissionSyntaxError(f"program path {quoted(raw)} is relative")
    return os.path.normpath(os.path.expanduser(text)) if "/" in text else text


_NORMALIZERS = {
    "read": normalize_path,
    "write": normalize_path,
    "net": normalize_net,
    "env": normalize_env,
    "run": normalize_run,
}


def make(kind: str, value: str = "") -> Permission:
    """Build a canonical permission from a kind and a raw value."""
    if kind in FLAGS:
        if value not in ("", "true"):
            raise PermissionSyntaxError(f"{kind} takes no value")
        return Permission(kind)
    normalizer = _NORMALIZERS.get(kind)
    if normalizer is None:
        raise PermissionSyntaxError(
            f"unknown permission kind {quoted(kind)} (known: {', '.join(KINDS)})"
        )
    return Permission(kind, normalizer(value))


def parse(text: str) -> Permission:
    """Parse the ``kind:value`` string form (as typed in ``jafhost grant``)."""
    kind, sep, value = text.strip().partition(":")
    if kind in FLAGS and not sep:
        return Permission(kind)
    if not sep:
        raise PermissionSyntaxError(f"{quoted(text)} is not of the form kind:value")
    return make(kind, value)


def canonical(permissions: Iterable[Permission | str]) -> list[str]:
    """Canonical strings, sorted and without duplicates."""
    return sorted({str(p) if isinstance(p, Permission) else str(parse(p)) for p in permissions})


def missing(requested: Iterable[str], approved: Iterable[str]) -> list[str]:
    """The requested permissions not among those approved (canonical strings)."""
    have = set(approved)
    return sorted(p for p in requested if p not in have)
