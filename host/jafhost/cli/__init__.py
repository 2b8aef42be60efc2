"""The ``jafhost`` command line.

- :mod:`jafhost.cli.entry` is the console script: a fast path for ``list --json`` that
  imports neither typer nor rich, then :func:`jafhost.cli.app.main`.
- :mod:`jafhost.cli.app` builds the typer app: the root options, ``main`` and the
  command modules, each of which registers its commands when imported.
- The command modules, one per topic: :mod:`~jafhost.cli.plugins` (list, info, enable,
  disable, grant, revoke), :mod:`~jafhost.cli.doctor`, :mod:`~jafhost.cli.run` (tools,
  call, emit, dev), :mod:`~jafhost.cli.agents` (agents, run), :mod:`~jafhost.cli.config`
  (config show, config set), :mod:`~jafhost.cli.ecosystem` (new, install, uninstall) and
  :mod:`~jafhost.cli.mcp`. They never import each other, only
  :mod:`jafhost.cli._common` (the app, the one ``Host`` a command builds, consoles, JSON,
  warnings, prompts, ``Failed``), :mod:`jafhost.cli.streams` and, for ``list``,
  :mod:`jafhost.cli.list_table` (pyproject.toml's import-linter contracts check it).

This package imports nothing itself, so the fast path stays fast.
"""
