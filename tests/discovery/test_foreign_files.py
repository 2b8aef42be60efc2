"""``foreign_files.foreign_file``: a file a plugin's ``RECORD`` does not list, where the
import system would take it for the plugin's code, is named; what others legitimately
put beside the plugin (in the site folder, a shared namespace folder, a package of
another name such as ``tests``, a data folder, a bytecode cache) is not.

Real files on a temporary site folder; ``RECORD`` rows as pip writes them.
"""

from __future__ import annotations

import os
import time
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
    "acme/vault.py",
    "tests/__init__.py",
)
PACKAGES = ("pkg", "single", "ns", "acme")
"""The top-level packages of the plugin's entry points (``tests`` is none of them)."""


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
    others = (
        "other/__init__.py",  # another distribution's package beside it
        "elsewhere.py",
        "ns/theirs/__init__.py",  # a namespace folder shared with another
        "acme/colours.py",  # a module of another in a namespace folder the plugin's is in
        "tests/test_colours.py",  # a ``tests`` package two distributions ship
        "pkg/README.txt",  # no module
        "pkg/__pycache__/__init__.cpython-311.pyc",  # caches: never read (source_only)
        "pkg/__pycache__/plugin.cpython-312.pyc",
    )
    for name in others:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(_pyc(0b01) if name.endswith(".pyc") else b"")
    assert foreign_file(str(site), listed, PACKAGES, [str(site)]) is None


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
    "a module in place of a namespace portion": ("ns/mine.py", b""),
}


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_foreign_file_is_named(case: str, site: Path) -> None:
    listed = _install(site)
    name, content = FOREIGN[case]
    path = site / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content or b"")
    found = foreign_file(str(site), listed, PACKAGES, [str(site)])
    assert found is not None
    assert Path(found) in (path, path.parent)  # the file, or the folder it brought


@pytest.mark.parametrize("name", ["pkg/__init__.py", "single.py", f"single{EXTENSION_SUFFIXES[0]}"])
def test_a_folder_searched_before_the_site_folder_is_looked_at(
    name: str, site: Path, tmp_path: Path
) -> None:
    """The import system takes the plugin's top-level names from the first folder on the
    path that has them: one searched before the plugin's own may not."""
    listed = _install(site)
    earlier = tmp_path / "earlier"
    (earlier / name).parent.mkdir(parents=True, exist_ok=True)
    (earlier / name).write_text("")
    found = foreign_file(str(site), listed, PACKAGES, [str(earlier), str(site)])
    assert found is not None and Path(found) in (earlier / name, (earlier / name).parent)
    assert foreign_file(str(site), listed, PACKAGES, [str(site), str(earlier)]) is None


def test_a_listing_kept_from_an_earlier_check_sees_an_entry_added_since(
    site: Path, tmp_path: Path
) -> None:
    """The site folder's listing is kept between plugins while its stamp is unchanged:
    an entry added after it was kept changes the stamp and is found."""
    from jafhost.discovery import listings

    listed = _install(site)
    past = time.time_ns() - 3600 * 1_000_000_000
    os.utime(site, ns=(past, past))
    assert foreign_file(str(site), listed, PACKAGES, [str(site)]) is None
    assert str(site) in listings._KEPT  # kept: old enough to vouch for
    (site / "single").mkdir()
    (site / "single" / "__init__.py").write_text("")
    os.utime(site, ns=(past, past))  # even set back: the change time moved
    assert foreign_file(str(site), listed, PACKAGES, [str(site)]) == str(site / "single")
