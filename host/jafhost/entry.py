"""The ``jafhost`` console script: a fast path for ``list --json``, then the full CLI.

``jafhost list --json`` is what scripts and agents call most, often per request; it
runs no plugin code and needs neither typer nor rich. Answering it here, before the
command-line framework is imported, keeps it close to the cost of Python scanning its
entry points. Everything else (``list --json`` included, when called with anything
more) goes to ``jafhost.cli.main``, which gives the same output and exit codes.
"""

from __future__ import annotations

import json
import os
import sys


def _list_json() -> int:
    from jafhost.errors import PluginError, StateError, UsageError
    from jafhost.host import Host

    try:
        host = Host()
        views = host.plugins()
    except UsageError as exc:
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
        return 2
    except (PluginError, StateError) as exc:
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
        return 1
    for warning in host.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    sys.stdout.write(json.dumps([v.list_json() for v in views], indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["list", "--json"] and os.environ.get("JAFHOST_DEBUG") != "1":
        return _list_json()
    from jafhost.cli import main as full

    return full(args)
