"""Where the host keeps its files: ``JAFHOST_HOME`` or the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path

from jafhost.home.folder import HOME_VARIABLE, home_folder

__all__ = ["HOME_VARIABLE", "HomeLayout", "default_home", "home_folder"]


def default_home() -> Path:
    """``$JAFHOST_HOME`` if set, else the platform's user data dir for jafhost."""
    return Path(home_folder())


class HomeLayout:
    """The files and folders under one host home, named in one place."""

    def __init__(self, home: Path) -> None:
        # Absolute, so worker processes (which start in their data folder) and grants
        # name the same files as the host whatever its working folder.
        self.home = home = Path(os.path.abspath(home.expanduser()))
        self.state = home / "state.json"
        self.state_lock = home / "state.json.lock"
        self.config = home / "config.toml"
        self.cache = home / "cache"
        self.plugins = home / "plugins"

    def plugin_dir(self, name: str) -> Path:
        return self.plugins / name

    def data_dir(self, name: str) -> Path:
        return self.plugins / name / "data"

    def cache_dir(self, name: str) -> Path:
        return self.plugins / name / "cache"

    def schema_file(self, name: str) -> Path:
        return self.plugins / name / "config-schema.json"
