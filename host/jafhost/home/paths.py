"""Where the host keeps its files: ``JAFHOST_HOME`` or the platform's user data folder.

``HomeLayout`` names each place twice: as a ``pathlib.Path`` (``layout.config``), what
the host's code works with, and as a string (``layout.at(CONFIG)``), what ``jafhost
call``'s one-shot lane works with. ``pathlib`` is imported when a ``Path`` is first
asked for: the lane never asks, and importing it would cost a warm call about 1.5 ms,
a twentieth of the bare script the lane is measured against (``bench/startup.py``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from jafhost.home.folder import HOME_VARIABLE, home_folder

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["HOME_VARIABLE", "HomeLayout", "default_home", "home_folder"]

STATE = "state.json"
STATE_LOCK = "state.json.lock"
CONFIG = "config.toml"
CACHE = "cache"
PLUGINS = "plugins"


def default_home() -> Path:
    """``$JAFHOST_HOME`` if set, else the platform's user data dir for jafhost."""
    from pathlib import Path

    return Path(home_folder())


class _Place:
    """A place under the home as a ``Path``, built when first asked for and then kept
    (``pathlib`` imported then)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, layout: HomeLayout, owner: type | None = None) -> Path:
        from pathlib import Path

        path = Path(layout.root, *self.parts)
        layout.__dict__[self.name] = path  # the instance's own from now on
        return path


class HomeLayout:
    """The files and folders under one host home, named in one place."""

    home = _Place()
    state = _Place(STATE)
    state_lock = _Place(STATE_LOCK)
    config = _Place(CONFIG)
    cache = _Place(CACHE)
    plugins = _Place(PLUGINS)

    def __init__(self, home: str | os.PathLike[str]) -> None:
        # Absolute, so worker processes (which start in their data folder) and grants
        # name the same files as the host whatever its working folder.
        self.root = os.path.abspath(os.path.expanduser(os.fspath(home)))
        """The home folder, as a string."""

    def at(self, *parts: str) -> str:
        """The place ``parts`` under the home, as a string (``at(CONFIG)``)."""
        return os.path.join(self.root, *parts)

    def plugin_dir(self, name: str) -> Path:
        return self.plugins / name

    def data_dir(self, name: str) -> Path:
        return self.plugins / name / "data"

    def cache_dir(self, name: str) -> Path:
        return self.plugins / name / "cache"

    def schema_file(self, name: str) -> Path:
        return self.plugins / name / "config-schema.json"

    def data_folder(self, name: str) -> str:
        """``data_dir(name)`` as a string."""
        return self.at(PLUGINS, name, "data")

    def cache_folder(self, name: str) -> str:
        """``cache_dir(name)`` as a string."""
        return self.at(PLUGINS, name, "cache")
