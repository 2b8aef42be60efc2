"""Nothing of a plugin runs in its worker before the sandbox is in force.

While a worker sets itself up, the standard library looks for optional modules on the
import path (``copy`` tries ``org.python.core``, ``os`` and ``subprocess`` look for
``nt`` and ``_winapi``), and that path holds the plugin's folders and every installed
distribution. A plugin, or any distribution, shipping a package of such a name ran
there as the host's user with nothing applied. Ground truth: the marker it writes
outside its grants is never written, and the plugin still works once the sandbox is on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, Site, folder_plugin, run_cli
from jafhost.runtime.isolation import gate

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

EARLY = """
import os, sys
# in a worker (started with -S) and still before its sandbox; the host's own interpreter
# imports such a package too, like any Python program there: a documented limit
if sys.flags.no_site and "jafhost.security.guard" not in sys.modules:
    with open({marker!r}, "a") as out:
        out.write("ran before the sandbox")
"""

TOOL = HI_PLUGIN


def _early_package(folder: Path, name: str, marker: Path) -> None:
    """A package ``name`` that writes ``marker`` when imported before the sandbox, and
    fails the way the standard library expects of a module it merely probes for."""
    package = folder / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(EARLY.format(marker=str(marker)))
    (package / "python").mkdir(exist_ok=True)
    (package / "python" / "__init__.py").write_text("raise ImportError('not jython')\n")


def test_a_folder_plugin_named_like_a_probed_module_waits_for_the_sandbox(
    tmp_path: Path, home: Path
) -> None:
    marker = tmp_path / "outside" / "early"
    marker.parent.mkdir()
    root = tmp_path / "plugins"
    package = folder_plugin(root, "org", "helpful", EARLY.format(marker=str(marker)) + TOOL)
    (package / "python").mkdir()
    (package / "python" / "__init__.py").write_text("raise ImportError('not jython')\n")
    done = run_cli("call", "helpful.hi", home=home, env={"JAFHOST_PLUGIN_PATH": str(root)})
    assert not marker.exists(), marker.read_text()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == "hi"


@pytest.mark.parametrize("name", ["org", "nt", "_winapi"])
def test_an_installed_package_named_like_a_probed_module_waits_for_the_sandbox(
    name: str, tmp_path: Path, site: Site, home: Path
) -> None:
    marker = tmp_path / "outside" / "early"
    marker.parent.mkdir()
    site.plugin("plain", code=TOOL)
    _early_package(site.root, name, marker)  # beside it on the path, from any distribution
    done = run_cli("call", "plain.hi", site=site, home=home)
    assert not marker.exists(), marker.read_text()
    assert done.returncode == 0, done.stderr


def test_the_gate_finds_only_the_standard_library_and_trusted_names(tmp_path: Path) -> None:
    _early_package(tmp_path, "org", tmp_path / "never")
    (tmp_path / "json").mkdir()  # a shadow of a standard library name
    (tmp_path / "json" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    finder = gate.BeforeSandbox(gate.stdlib_folders(), {})
    saved = list(sys.path)
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(ModuleNotFoundError, match="before the sandbox"):
            finder.find_spec("org")
        found = finder.find_spec("json")
        assert found is not None and found.origin is not None
        assert not found.origin.startswith(str(tmp_path))
        assert finder.find_spec("sys") is None  # built in: the interpreter's own importer
        assert finder.find_spec("json.decoder", ["x"]) is None  # a vetted parent's child
    finally:
        sys.path[:] = saved
    assert os.path.basename(gate.stdlib_folders()[0]).startswith("python")


def test_trusted_names_come_from_where_the_host_found_them() -> None:
    import pydantic_core

    lines = dict(line.split("=", 1) for line in gate.trusted().splitlines())
    assert Path(pydantic_core.__file__).parent.parent == Path(lines["pydantic_core"])
    assert set(lines) <= set(gate.TRUSTED)
