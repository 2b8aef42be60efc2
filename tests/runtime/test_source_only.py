"""``runtime.source_only``: a protected package's modules come from their sources, even
where the import system would run a bytecode cache beside them (a checked hash-based
``.pyc`` naming the source's hash, PEP 552), and nothing is written. Other packages
load as usual.

A real package on a temporary path, imported in a fresh interpreter.
"""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
from pathlib import Path

import pytest

IMPORT = """
import sys
sys.path.insert(0, {root!r})
{protect}
import pkg.plugin, other
print(pkg.plugin.ANSWER, other.ANSWER)
"""


def _cache(source: Path, code: str) -> None:
    """A checked hash-based cache of ``source`` that holds ``code`` instead."""
    data = source.read_bytes()
    header = importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little")
    compiled = compile(code, str(source), "exec")
    cache = Path(importlib.util.cache_from_source(str(source)))
    cache.parent.mkdir(exist_ok=True)
    cache.write_bytes(header + importlib.util.source_hash(data) + marshal.dumps(compiled))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for path in (tmp_path / "pkg" / "plugin.py", tmp_path / "other.py"):
        path.write_text('ANSWER = "source"\n')
        _cache(path, 'ANSWER = "cache"\n')
    return tmp_path


def _run(root: Path, protect: str) -> str:
    script = IMPORT.format(root=str(root), protect=protect)
    done = subprocess.run(
        [sys.executable, "-B", "-c", script], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_import_system_runs_the_cache(root: Path) -> None:
    """What the protection is for: without it, the cache's code runs."""
    assert _run(root, "") == "cache cache"


def test_a_protected_package_is_compiled_from_its_sources(root: Path) -> None:
    caches = sorted(root.rglob("*.pyc"))
    protect = "from jafhost.runtime.source_only import protect; protect('pkg.plugin')"
    assert _run(root, protect) == "source cache"  # only the protected package
    assert sorted(root.rglob("*.pyc")) == caches  # nothing written
