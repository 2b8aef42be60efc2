"""Change one value in ``config.toml`` without disturbing the rest of the file.

``set_plugin_value`` takes ``config.toml.lock`` (next to the file), reads the file with
tomlkit (which keeps comments, order, blank lines and formatting), asks the caller what
to write given the plugin's current table (the caller validates there and raises to
abort, and then nothing is written), sets the value and replaces the file atomically
(``jafhost.atomic``: a symbolic link is followed, the file keeps its mode). Two processes
setting values at the same time both land: the second reads the file the first wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable

from jafhost.atomic import file_lock, write_atomic
from jafhost.errors import StateError
from jafhost.home.config import config_text

LOCK_TIMEOUT = 30.0


def lock_path(config: Path) -> Path:
    """``config.toml.lock``, next to the file it guards."""
    return config.with_name(config.name + ".lock")


@contextmanager
def locked(config: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the config file's lock; ``StateError`` after ``timeout`` seconds."""
    config.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path(config), guarding=config, timeout=timeout):
        yield


def read_document(config: Path) -> tomlkit.TOMLDocument:
    """The file as a tomlkit document (empty when there is none); bad TOML names the file."""
    text = config_text(config)
    try:
        return tomlkit.parse(text)
    except RecursionError:
        raise StateError(f"{config}: nested too deeply") from None
    except (TOMLKitError, ValueError) as exc:
        raise StateError(f"{config}: invalid TOML: {exc}") from None


def plugin_file_table(document: tomlkit.TOMLDocument, plugin: str) -> dict[str, Any]:
    """``[plugins.NAME]`` as plain Python values (``{}`` when absent)."""
    data = document.unwrap()
    plugins = data.get("plugins")
    table = plugins.get(plugin) if isinstance(plugins, dict) else None
    return table if isinstance(table, dict) else {}


def set_in_document(
    document: tomlkit.TOMLDocument, plugin: str, key: Sequence[str], value: Any
) -> None:
    """Set ``plugins.NAME.<key>`` to ``value``, creating the tables on the way.

    Existing tables keep their place and style (a ``[plugins.NAME]`` section, an inline
    table, dotted keys); a new table is added as a ``[plugins.NAME...]`` section. A value
    that sits where a table is needed inside the plugin's table is replaced by the table;
    ``plugins`` or ``plugins.NAME`` that is not a table is a ``ValueError``.
    """
    if not key:
        raise ValueError("empty key")
    container: MutableMapping[str, Any] = document
    for depth, part in enumerate(("plugins", plugin, *key[:-1])):
        current = container.get(part)
        if current is not None and not isinstance(current, MutableMapping) and depth < 2:
            where = "plugins" if depth == 0 else f"plugins.{plugin}"
            raise ValueError(f"{where} is not a table")
        if not isinstance(current, MutableMapping):
            if isinstance(container, InlineTable):
                _put(container, part, {})
            else:
                container[part] = tomlkit.table(is_super_table=part == "plugins")
            current = container[part]
        container = current
    _put(container, key[-1], value)


def _put(container: MutableMapping[str, Any], key: str, value: Any) -> None:
    """``container[key] = value``; a new key in an inline table is appended the way
    tomlkit formats it (``{a = 1, b = 2}``, where assignment would give ``{a = 1,b = 2}``)."""
    value = _plain_strings(value)
    if not isinstance(container, InlineTable) or key in container:
        container[key] = value
        return
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for name, sub in value.items():
            _put(table, name, sub)
        container.append(key, table)
    else:
        container.append(key, value)


def _plain_strings(value: Any) -> Any:
    """Strings (also inside lists) as TOML basic strings: ``"123"``, escapes as needed.

    The style a user sees is decided here rather than left to tomlkit, whose choice of
    quotes for a replaced value changed between releases (0.13 wrote ``"123"`` where 0.15
    keeps the old value's ``'...'``).
    """
    if isinstance(value, str):
        return tomlkit.string(value, literal=False)
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(_plain_strings(item) for item in value)
        return array
    if isinstance(value, Mapping):
        return {name: _plain_strings(sub) for name, sub in value.items()}
    return value


def set_plugin_value(
    config: Path,
    plugin: str,
    key: Sequence[str],
    choose: Callable[[dict[str, Any]], Any],
    *,
    timeout: float = LOCK_TIMEOUT,
) -> Any:
    """Under the lock: read ``config``, call ``choose(current plugin table)`` for the
    value to write at ``plugins.NAME.<key>``, write the file atomically, return the value.

    ``choose`` validates; whatever it raises propagates and the file is left untouched.
    """
    with locked(config, timeout):
        document = read_document(config)
        value = choose(plugin_file_table(document, plugin))
        try:
            set_in_document(document, plugin, key, value)
            text = tomlkit.dumps(document)
        except (TOMLKitError, TypeError, ValueError) as exc:
            raise StateError(f"cannot write {config}: {exc}") from None
        write_atomic(config, text.encode("utf-8"), new_mode=0o644)
        return value
