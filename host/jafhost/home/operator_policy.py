"""The operator's ``[policy]``: deny rules and a minimum isolation over every plugin.

Read from three places, all of which apply at once:

* ``/etc/jafhost/policy.toml`` when it exists (``SYSTEM_POLICY``: a fixed path, which
  no variable or setting moves, so a user cannot point the host away from it);
* the file named by ``JAFHOST_POLICY`` (an administrator's file for one service or
  container; naming a file that cannot be read is an error, never "no policy");
* ``[policy]`` in ``config.toml``.

Deny lists add up and the minimum isolation is the strictest, so nothing in
``config.toml`` (or the CLI, which writes the state, or the ``JAFHOST_*`` settings
variables, which reach plugin tables only) can weaken an administrator's file. A
malformed file is a ``StateError`` naming the file and the key; the host then refuses
to run any plugin code (it fails closed) rather than run without the ceiling. The
tables are validated with ``policy_model``'s pydantic models, imported only when a
policy exists (a plain ``jafhost call`` on a machine without one pays nothing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jafhost.errors import PermissionSyntaxError, StateError
from jafhost.safe_read import CONFIG_LIMIT, UnsafeFile, read_text
from jafhost.security.ceiling import NO_CEILING, Ceiling, DenyRule

if TYPE_CHECKING:
    from pydantic import ValidationError

    from jafhost.home.policy_model import PolicyTable

SYSTEM_POLICY = "/etc/jafhost/policy.toml"
"""The system-wide policy file, read when it exists."""
POLICY_VARIABLE = "JAFHOST_POLICY"
"""The environment variable naming an administrator's policy file."""
CONFIG_SOURCE = "[policy]"
"""``policy_sources``' name for the ``[policy]`` table of ``config.toml``."""


def _problem(source: str, exc: ValidationError, table: bool = False) -> StateError:
    """The first error, naming the file and the key (``[policy] deny.0: ...``)."""
    loc = tuple(str(part) for part in exc.errors()[0]["loc"])
    if table:
        loc = ("policy", *loc)
    if loc[:1] == ("policy",) and len(loc) > 1:
        where = "[policy] " + ".".join(loc[1:])
    else:
        where = ".".join(loc) or "[policy]"
    return StateError(f"{source}: {where}: {exc.errors()[0]['msg']}")


def _rules(table: PolicyTable, source: str) -> list[DenyRule]:
    rules = []
    for index, text in enumerate(table.deny):
        try:
            rules.append(DenyRule.parse(text, source))
        except PermissionSyntaxError as exc:
            raise StateError(f"{source}: [policy] deny[{index}] {text!r}: {exc}") from None
    return rules


def policy_table(config: Mapping[str, Any], source: str) -> PolicyTable:
    """``[policy]`` of ``config.toml`` (already parsed), validated."""
    from pydantic import ValidationError

    from jafhost.home.policy_model import PolicyTable

    try:
        return PolicyTable.model_validate(config.get("policy", {}))
    except ValidationError as exc:
        raise _problem(source, exc, table=True) from None


def read_policy_file(path: str | os.PathLike[str]) -> PolicyTable:
    """An administrator's file, validated: ``StateError`` naming the file and key."""
    try:
        text = read_text(path, CONFIG_LIMIT)
    except FileNotFoundError:
        raise StateError(f"{path}: policy file not found") from None
    except (UnsafeFile, OSError) as exc:
        raise StateError(f"{path}: policy file unreadable: {exc}") from None
    import tomllib

    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StateError(f"{path}: invalid TOML: {exc}") from None
    from pydantic import ValidationError

    from jafhost.home.policy_model import PolicyFile

    try:
        return PolicyFile.model_validate(data).policy
    except ValidationError as exc:
        raise _problem(str(path), exc) from None


def _present(path: str | os.PathLike[str]) -> bool:
    """Whether anything is at ``path`` (a link too, even a broken one). Only a missing
    file (or folder on the way) is absent: one that cannot be looked at (a folder the
    user may not search) is present, so reading it fails, naming it, and an operator's
    policy is never taken for none."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def policy_sources(
    config: Mapping[str, Any],
    environ: Mapping[str, str],
    system: str | os.PathLike[str] = SYSTEM_POLICY,
) -> list[str]:
    """Where an operator policy applies from (none: no ceiling), without reading any
    of it: ``system`` when it exists (or is a link, even a broken one), the file
    ``JAFHOST_POLICY`` names, ``[policy]`` in ``config``. The one place that decides
    it: ``load_ceiling`` reads what this names, and ``jafhost call``'s one-shot lane
    hands over to the full path whenever this names anything."""
    found = []
    if _present(system):
        found.append(os.fspath(system))
    named = environ.get(POLICY_VARIABLE, "")
    if named:
        found.append(named)
    if "policy" in config:
        found.append(CONFIG_SOURCE)
    return found


def load_ceiling(
    config: Mapping[str, Any],
    config_path: str | os.PathLike[str],
    environ: Mapping[str, str],
    system: str | os.PathLike[str] = SYSTEM_POLICY,
) -> Ceiling:
    """Every deny rule and the strictest minimum isolation of the three sources
    (``system`` is a parameter for tests only: the host always passes the default)."""
    tables: list[tuple[PolicyTable, str]] = []
    for source in policy_sources(config, environ, system):
        if source == CONFIG_SOURCE:
            tables.append((policy_table(config, str(config_path)), str(config_path)))
        else:
            tables.append((read_policy_file(source), source))
    if not tables:  # the common case: no policy anywhere, and no pydantic imported
        return NO_CEILING
    rules: list[DenyRule] = []
    isolation, isolation_source = None, ""
    for table, source in tables:
        rules += _rules(table, source)
        if table.isolation == "process" and isolation is None:
            isolation, isolation_source = "process", source
    return Ceiling(tuple(rules), isolation, isolation_source)
