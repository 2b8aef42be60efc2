"""A plugin's table in ``config.toml`` and its environment overrides, without pydantic.

What a plugin's configuration is made of (``[plugins.NAME]`` with ``JAFHOST_<PLUGIN>__``
variables on top) is plain data; only validating it needs the plugin's pydantic model.
Kept apart from ``jafhost.home.config`` so that ``jafhost call``'s one-shot lane keys a
plugin's activation record exactly as a host does, without importing pydantic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

ENV_PREFIX = "JAFHOST_"
"""Environment overrides are ``JAFHOST_<PLUGIN>__<FIELD>[__<SUBFIELD>...]``."""

Key = tuple[str, ...]
"""A path of keys into a plugin's table: ``("limits", "max")`` is ``limits.max``."""


def plugin_table(config: dict[str, Any], name: str) -> dict[str, Any]:
    plugins = config.get("plugins", {})
    table = plugins.get(name, {}) if isinstance(plugins, dict) else {}
    return dict(table) if isinstance(table, dict) else {}


# -- environment overrides ----------------------------------------------------------


def env_prefix(plugin: str) -> str:
    """``JAFHOST_NOTES_SEARCH__`` for plugin ``notes-search``."""
    return f"{ENV_PREFIX}{plugin.upper().replace('-', '_')}__"


def env_variable(plugin: str, key: Sequence[str]) -> str:
    """The variable that overrides ``key``: ``JAFHOST_NOTES__LIMITS__MAX``."""
    return env_prefix(plugin) + "__".join(part.upper() for part in key)


def env_value(text: str) -> Any:
    """A variable's value as the host hands it to pydantic.

    A JSON array or object (``["a", "b"]``, ``{"max": 5}``) is parsed; anything else
    stays a string, which pydantic converts to the field's type (``"5"`` to 5 for an
    ``int``, ``"true"`` to True for a ``bool``) and which a ``str`` or ``SecretStr``
    field keeps as it is (a token ``12345`` stays the string ``"12345"``).
    """
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return text
        if isinstance(parsed, list | dict):
            return parsed
    return text


def env_settings(plugin: str, environ: Mapping[str, str]) -> dict[Key, tuple[str, Any]]:
    """The variables addressed to ``plugin``: key -> (variable name, parsed value).

    The prefix is matched case-insensitively and the field names are lower-cased
    (``JAFHOST_NOTES__LIMITS__MAX`` -> ``("limits", "max")``). A variable with an empty
    field name (``JAFHOST_NOTES__``, ``JAFHOST_NOTES__A____B``) is ignored.
    """
    prefix = env_prefix(plugin)
    found: dict[Key, tuple[str, Any]] = {}
    for variable in sorted(environ):
        if not variable.upper().startswith(prefix):
            continue
        parts = variable[len(prefix) :].split("__")
        if not all(parts):
            continue
        found[tuple(part.lower() for part in parts)] = (variable, env_value(environ[variable]))
    return found


def set_key(tree: dict[str, Any], key: Key, value: Any, *, merge: bool = False) -> None:
    """Set ``key`` in a nested table in place, making the tables on the way; with
    ``merge``, a table set where there is a table merges into it instead of replacing it."""
    for part in key[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    current = tree.get(key[-1])
    if merge and isinstance(current, dict) and isinstance(value, dict):
        tree[key[-1]] = deep_merge(current, value)
    else:
        tree[key[-1]] = copy.deepcopy(value)


def env_overrides(plugin: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The overrides for ``plugin`` as a nested table.

    Shallower variables apply first, so ``JAFHOST_X__LIMITS='{"max": 1, "min": 0}'``
    with ``JAFHOST_X__LIMITS__MAX=5`` gives ``{"limits": {"max": "5", "min": 0}}``.
    """
    tree: dict[str, Any] = {}
    settings = env_settings(plugin, environ)
    for key in sorted(settings, key=lambda k: (len(k), k)):
        set_key(tree, key, settings[key][1], merge=True)
    return tree


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, any other value replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def plugin_config_table(
    config: dict[str, Any], name: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Plugin ``name``'s ``[plugins.NAME]`` table with the environment's overrides on top.

    ``environ`` (normally ``os.environ``) may override any field with
    ``JAFHOST_<PLUGIN>__<FIELD>``: the plugin name upper-cased with ``-`` turned into ``_``,
    nested fields joined by further ``__``, field names matched lower-cased::

        JAFHOST_NOTES_SEARCH__LIMITS__MAX=5   ->  {"limits": {"max": "5"}}
        JAFHOST_NOTES_SEARCH__TAGS='["a","b"]'  ->  {"tags": ["a", "b"]}

    The environment wins over the file, key by key (a nested table from the file keeps
    the keys the environment does not set). A JSON array or object is parsed; any other
    value stays a string and the plugin's pydantic model converts it (``"5"`` -> 5 for an
    ``int`` field), so a ``str`` field keeps ``"007"`` as written. Secret fields
    (``SecretStr``) belong here, in the environment, and never in ``config.toml``.
    Nothing is validated here: the plugin's model validates the result.
    """
    return deep_merge(plugin_table(config, name), env_overrides(name, environ))
