"""``jafhost new`` renders only what the template holds: no bytecode reaches the project."""

from __future__ import annotations

import compileall
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import run_cli
from jafhost.ecosystem import scaffold


@pytest.fixture
def compiled_template() -> Iterator[Path]:
    """The template as pip leaves it: every ``.py`` that compiles has a ``__pycache__``
    (pip byte-compiles the installed package, ``jafhost/plugin_template`` included)."""
    template = scaffold.template_dir()
    before = set(template.rglob("__pycache__"))
    compileall.compile_dir(str(template), quiet=2)
    added = set(template.rglob("__pycache__")) - before
    assert added or before, "nothing in the template compiles: the fixture proves nothing"
    try:
        yield template
    finally:
        for folder in added:
            shutil.rmtree(folder, ignore_errors=True)


def test_new_leaves_no_bytecode_in_the_project(compiled_template: Path, tmp_path: Path) -> None:
    result = run_cli("new", "weather", "--no-input", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "jaf-plugin-weather"
    assert (project / "src" / "jaf_plugin_weather" / "__init__.py").is_file()
    leftovers = [
        str(p.relative_to(project))
        for p in project.rglob("*")
        if p.name == "__pycache__" or p.suffix in (".pyc", ".pyo")
    ]
    assert leftovers == []
    assert list(compiled_template.rglob("__pycache__")), "the template keeps its own bytecode"
