"""docs/architecture.md names only what exists, and names every module.

Every ``host/jafhost/...`` path (optionally ``:qualname``) and every ``jafhost.x.y``
module or ``module:qualname`` in the map must exist: files are looked up on disk,
modules with ``importlib.util.find_spec`` and functions, classes and methods in the
module's syntax tree (a name a package exports lazily, such as ``jafhost.Host``, by
importing the package). Each module under
``host/jafhost`` must appear in the map, so a new module cannot be left off it.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "host" / "jafhost"
DOC = ROOT / "docs" / "architecture.md"
TEXT = DOC.read_text(encoding="utf-8")

PATH = re.compile(r"host/jafhost/([\w/]*\.py|[\w/]*/)(?::([\w.<>]+))?")
DOTTED = re.compile(r"(?<![\w/.])(jafhost(?:\.\w+)+)(?::([\w.<>]+))?")


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


DEFINITION = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _defs(node: ast.AST) -> list[ast.stmt]:
    """Definitions and assignments inside ``node``'s body, not inside nested defs."""
    found: list[ast.stmt] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, DEFINITION | ast.Assign | ast.AnnAssign):
            found.append(child)
        elif isinstance(child, ast.stmt):
            found.extend(_defs(child))
    return found


def _names(statement: ast.stmt) -> list[str]:
    if isinstance(statement, DEFINITION):
        return [statement.name]
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    else:
        return []
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _named(node: ast.AST, name: str) -> ast.AST | None:
    return next((child for child in _defs(node) if name in _names(child)), None)


def defines(path: Path, qualname: str) -> bool:
    """Whether ``qualname`` (``f``, ``Class.method``, ``outer.<locals>.inner``) is defined."""
    node: ast.AST | None = tree(path)
    for part in qualname.split("."):
        if part == "<locals>":
            continue
        node = _named(node, part) if node is not None else None
    return node is not None


def module_file(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin)


def split_module(dotted: str) -> tuple[Path, str]:
    """The longest prefix of ``dotted`` that is a module, and the rest as a qualname."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = module_file(".".join(parts[:cut]))
        except ModuleNotFoundError:
            found = None
        if found is not None:
            return found, ".".join(parts[cut:])
    raise AssertionError(f"{dotted}: no such module")


def exported(module: str, name: str) -> bool:
    """For names a package exports lazily (``jafhost.Host``): import it and look."""
    target: object = importlib.import_module(module)
    for part in name.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


PATHS = sorted(set(PATH.findall(TEXT)))
NAMES = sorted(set(DOTTED.findall(TEXT)))


def test_the_map_names_paths_and_modules() -> None:
    assert len(PATHS) > 80
    assert len(NAMES) > 60


@pytest.mark.parametrize(("path", "qualname"), PATHS, ids=[":".join(p).strip(":") for p in PATHS])
def test_path_exists(path: str, qualname: str) -> None:
    target = PACKAGE / path
    assert target.exists(), f"docs/architecture.md names host/jafhost/{path}, which does not exist"
    if qualname:
        assert defines(target, qualname), f"host/jafhost/{path} defines no {qualname}"


@pytest.mark.parametrize(("dotted", "qualname"), NAMES, ids=[":".join(n).strip(":") for n in NAMES])
def test_module_or_function_exists(dotted: str, qualname: str) -> None:
    path, rest = split_module(dotted)
    if qualname:
        assert not rest, f"{dotted}:{qualname}: {dotted} is not a module"
        assert defines(path, qualname), f"{dotted} defines no {qualname}"
    elif rest:
        found = defines(path, rest) or exported(dotted[: -len(rest) - 1], rest)
        assert found, f"{dotted}: {path.name} defines no {rest}"


def test_every_module_is_on_the_map() -> None:
    named = {PACKAGE / p / "__init__.py" if p.endswith("/") else PACKAGE / p for p, _ in PATHS}
    for dotted, _ in NAMES:
        named.add(split_module(dotted)[0])
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py")) if p not in named]
    assert not missing, f"modules missing from docs/architecture.md: {missing}"
