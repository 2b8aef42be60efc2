"""The worker's environment, built by the host: only what Python needs and what the
grants name ever reaches the child, so not even ``/proc/PID/environ`` holds a secret."""

from __future__ import annotations

import fnmatch
import os
import site
import sys
from collections.abc import Iterable, Mapping

from jafhost.security.policy import private_entry, program_folder

ENV_ALWAYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM")
ENV_PREFIXES = ("LC_", "PYTHON")
ENV_DROPPED = ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONBREAKPOINT")
ENV_NET = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
"""Passed to workers with any ``net`` grant (trust settings, not secrets). Proxy
variables (``HTTPS_PROXY`` ...) can hold credentials: only when granted by ``env``."""


def site_dirs() -> list[str]:
    """The host's site folders (``site.getsitepackages()``, and the user's when the host
    uses it): the folders whose ``.pth`` files a worker processes, after its sandbox is
    applied (the worker itself starts with ``-I -S``, so nothing runs before)."""
    found = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(found) if os.path.isabs(d) and os.path.isdir(d)]


def host_paths() -> list[str]:
    """The host's ``sys.path``, and the folder jafhost itself is imported from if it is
    not on it (an import-hook editable install): the worker imports jafhost before it
    processes any ``.pth`` file, so it must find it on this path alone."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = os.path.dirname(package)
    found = list(sys.path)
    if not any(e and os.path.realpath(e) == os.path.realpath(root) for e in found):
        found.append(root)
    return found


def import_path(paths: Iterable[str] | None = None, own: Iterable[str] = ()) -> list[str]:
    """The worker's explicit ``sys.path``, from the host's: absolute, existing entries,
    without the host's working folder (which may be the user's home), a folder holding
    it, the embedding program's folder or other folder plugins' folders
    (``policy.private_entry``; a site folder is always kept) unless it is one of ``own``
    (a folder plugin's own plugin folder), which always ends the path (appended, as in
    the host, so nothing in it shadows an installed module). The folder jafhost itself
    is imported from is always on it: the worker imports jafhost before it processes any
    ``.pth`` file, so an editable install of the host keeps working."""
    cwd = os.path.realpath(os.getcwd())  # however the path names it: a link leads there too
    program = program_folder() or ""
    keep = {os.path.realpath(d) for d in site_dirs()}
    mine = [entry for entry in own if entry and os.path.isabs(entry)]
    found: list[str] = []
    for entry in sys.path if paths is None else paths:
        real = os.path.realpath(entry) if entry and os.path.isabs(entry) else ""
        usable = (
            real
            and os.path.exists(entry)
            and (real in keep or not private_entry(entry, cwd, program))
        )
        if usable and entry not in found and entry not in mine:
            found.append(entry)
    return found + [entry for entry in dict.fromkeys(mine) if os.path.exists(entry)]


def worker_env(
    grants: Iterable[str],
    cache_dir: str,
    *,
    environ: Mapping[str, str] | None = None,
    paths: Iterable[str] | None = None,
    own: Iterable[str] = (),
    deny_env: Iterable[str] = (),
) -> dict[str, str]:
    """The worker's whole environment: what Python needs plus the granted variables.

    Kept: ``PATH``, ``HOME`` (so ``~`` means the same as in the host; Landlock still
    guards the files), ``USER``/``LOGNAME``, ``LANG``/``LANGUAGE``/``LC_*``/``TZ``,
    ``TERM``, the interpreter's ``PYTHON*`` settings; with a ``net`` grant, the TLS trust
    variables. Set: ``PYTHONPATH`` (the host's import path, ``own`` folders kept: see
    ``import_path``), ``TMPDIR`` (the plugin's
    cache folder, writable in the sandbox), ``MALLOC_ARENA_MAX=2`` (threads would
    otherwise reserve 64 MB of address space each against the memory limit) and
    ``PYDANTIC_DISABLE_PLUGINS=__all__`` (unless granted: pydantic would otherwise read
    every installed distribution's entry points and import its plugins in the worker).
    Everything else, secrets included, is left out unless an ``env`` grant names it;
    a granted variable an operator's deny rule names (``deny_env`` patterns) too.
    """
    source = os.environ if environ is None else environ
    grants = list(grants)
    patterns = [g[4:] for g in grants if g.startswith("env:")]
    denied = list(deny_env)
    has_net = any(g.startswith("net:") for g in grants)
    env: dict[str, str] = {}
    for name, value in source.items():
        keep = (
            name in ENV_ALWAYS
            or (name.startswith(ENV_PREFIXES) and name not in ENV_DROPPED)
            or (has_net and name in ENV_NET)
            or (
                any(fnmatch.fnmatchcase(name, p) for p in patterns)
                and not any(fnmatch.fnmatchcase(name, d) for d in denied)
            )
        )
        if keep:
            env[name] = value
    env["PYTHONPATH"] = os.pathsep.join(import_path(paths, own))
    env["TMPDIR"] = cache_dir
    env["MALLOC_ARENA_MAX"] = "2"
    env.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    env.setdefault("PATH", os.defpath)
    return env
