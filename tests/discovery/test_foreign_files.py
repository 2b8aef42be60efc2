"""``foreign_files.foreign_file``: a file a plugin's ``RECORD`` does not list, where the
import system would take it for the plugin's code, is named; what others legitimately
put beside the plugin (the site folder, a shared namespace folder, a data folder, a
bytecode cache the import system checks) is not.

Real files on a temporary site folder; ``RECORD`` rows as pip writes them.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from jafhost.discovery.foreign_files import foreign_file
from jafhost.discovery.integrity import read_entries

PLUGIN_FILES = (
    "pkg/__init__.py",
    "pkg/plugin.py",
    "pkg/templates/page.html",
    "pkg/__pycache__/plugin.cpython-311.pyc",
    "single.py",
    "ns/mine/__init__.py",
)


def _install(site: Path) -> set[str]:
    """The plugin's files and its ``RECORD``; every path it lists."""
    for name in PLUGIN_FILES:
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_pyc(0) if name.endswith(".pyc") else b"")
    info = site / "jaf_plugin_x-1.0.dist-info"
    info.mkdir()
    rows = [f"{name},sha256=x,0" for name in PLUGIN_FILES if not name.endswith(".pyc")]
    rows += [f"{name},," for name in PLUGIN_FILES if name.endswith(".pyc")]
    rows.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(rows) + "\n")
    listed: set[str] = set()
    read_entries(str(info), listed)
    return listed


def _pyc(flags: int) -> bytes:
    return b"\x00\x00\r\n" + flags.to_bytes(4, "little") + bytes(8)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root


def test_a_plugin_among_others_has_no_foreign_file(site: Path) -> None:
    listed = _install(site)
    (site / "other").mkdir()  # another distribution's package beside it
    (site / "other" / "__init__.py").write_text("")
    (site / "elsewhere.py").write_text("")
    (site / "ns" / "theirs").mkdir()  # a namespace folder shared with another
    (site / "ns" / "theirs" / "__init__.py").write_text("")
    (site / "pkg" / "README.txt").write_text("not a module")
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(_pyc(0))
    (site / "pkg" / "__pycache__" / "plugin.cpython-312.pyc").write_bytes(_pyc(0b11))
    assert foreign_file(str(site), listed) is None


FOREIGN: dict[str, tuple[str, bytes | None]] = {
    "a package beside the module it shadows": ("pkg/plugin/__init__.py", b""),
    "a sibling module of the package": ("pkg/_speedups.py", b""),
    "a subpackage folder": ("pkg/extra/__init__.py", b""),
    "an extension module in place of __init__.py": (
        f"pkg/__init__{EXTENSION_SUFFIXES[0]}",
        b"",
    ),
    "a package in place of a top-level module": ("single/__init__.py", b""),
    "a legacy bytecode module": ("pkg/helper.pyc", b""),
    "an unchecked bytecode cache of a listed module": (
        "pkg/__pycache__/plugin.cpython-311.pyc",
        _pyc(0b01),
    ),
    "an unchecked bytecode cache of a top-level module": (
        "__pycache__/single.cpython-311.pyc",
        _pyc(0b01),
    ),
    "a module in place of a namespace portion": ("ns/mine.py", b""),
    "an __init__ making the namespace folder a package": ("ns/__init__.py", b""),
    "an __init__ extension in the namespace folder": (f"ns/__init__{EXTENSION_SUFFIXES[0]}", b""),
}


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_file_is_named(case: str, site: Path) -> None:
    listed = _install(site)
    name, content = FOREIGN[case]
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content or b"")
    found = foreign_file(str(site), listed)
    assert found is not None
    assert Path(found) in (path, path.parent)  # the file, or the folder it brought


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")
def test_a_fifo_in_a_bytecode_cache_does_not_block(site: Path) -> None:
    listed = _install(site)
    os.mkfifo(site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc")
    assert foreign_file(str(site), listed) is None
