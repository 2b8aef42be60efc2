"""``config_fast.fast_settings`` reads the ``[host]`` limits exactly as ``HostSettings``.

The one-shot lane builds a process-isolated plugin's worker spec from the stdlib
reading of a plainly valid ``config.toml``; a worker must get the same limits as the
full path's, defaults included.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jafhost.home.config import host_settings
from jafhost.home.config_fast import FastSettings, fast_settings, plainly_valid

FILES = [
    "",
    "[host]\n",
    '[host]\nisolation = "process"\n',
    "[host]\ncall_timeout = 5\nhook_timeout = 2.5\n",
    "[host]\nmemory_mb = 512\nopen_files = 64\nmax_result_mb = 3\nworkers_per_plugin = 4\n",
    "[host]\ncall_timeout = 0.25\nmax_result_mb = 4095\n",
]


@pytest.mark.parametrize("text", FILES)
def test_the_fast_reading_equals_host_settings(text: str, tmp_path: Path) -> None:
    assert plainly_valid(text)
    table = tomllib.loads(text)
    full = host_settings(table, tmp_path / "config.toml")
    fast = fast_settings(table.get("host", {}))
    assert fast == FastSettings(*(getattr(full, name) for name in FastSettings._fields))


@pytest.mark.parametrize("value", ["0", "4096", "1.5", '"8"', "true"])
def test_a_doubtful_max_result_mb_goes_to_the_full_check(value: str) -> None:
    assert not plainly_valid(f"[host]\nmax_result_mb = {value}\n")
