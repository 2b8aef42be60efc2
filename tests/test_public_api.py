"""The public surface: ``jafhost`` (and ``jafhost.testing``) is all that plugin authors and
embedding programs import; everything else is internal.

The documented names import from ``jafhost``, and the sample plugins, the plugin
template, the examples and the docs import nothing else from jafhost (read from their
sources: no plugin needs to be installed).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import jafhost

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = {"jafhost", "jafhost.testing"}

DOCUMENTED = {
    # writing a plugin (DESIGN.md, "Hooks")
    "hookimpl",
    "hookspec",
    "tool",
    "Plugin",
    "PluginMetadata",
    "PluginContext",
    "RunContext",
    "Event",
    "AgentSpec",
    "Integration",
    "ToolCall",
    # embedding (docs/embedding.md)
    "Host",
    "SyncHost",
    "AgentProfile",
    "CallResult",
    "CallError",
    # what either may catch
    "PluginError",
    "ManifestError",
    "ResolutionError",
    "PermissionDenied",
    "ToolError",
    "StateError",
    "UsageError",
}

IMPORT = re.compile(
    r"^\s*(?:from\s+(?P<from>jafhost[\w.]*)\s+import\s+(?P<names>\([^)]*\)|[^\n#]+)"
    r"|import\s+(?P<module>jafhost[\w.]*))",
    re.MULTILINE,
)


def _sources() -> list[Path]:
    found: list[Path] = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("sample_plugins", "plugin_template", "examples"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".py", ".md"} and path.is_file():
                found.append(path)
    return found


def _imports() -> list[tuple[Path, str, list[str]]]:
    """(file, module, names) for every jafhost import in the sources users copy from."""
    found = []
    for path in _sources():
        for match in IMPORT.finditer(path.read_text(encoding="utf-8")):
            if match["module"]:
                found.append((path, match["module"], []))
                continue
            names = match["names"].strip("() \n")
            found.append(
                (path, match["from"], [n.split(" as ")[0].strip() for n in names.split(",")])
            )
    return [(path, module, [n for n in names if n]) for path, module, names in found]


def test_documented_names_import_from_jafhost() -> None:
    assert set(jafhost.__all__) == DOCUMENTED | {"__version__"}
    for name in sorted(DOCUMENTED):
        assert getattr(jafhost, name) is not None, name
    from jafhost import UsageError

    assert issubclass(UsageError, Exception)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(AttributeError, match="no attribute 'LoadedPlugin'"):
        jafhost.LoadedPlugin  # noqa: B018


def test_the_lazy_names_match_their_type_checking_imports() -> None:
    """Each exported name is defined where ``_EXPORTS`` says, and typed the same way."""
    source = (ROOT / "host" / "jafhost" / "__init__.py").read_text(encoding="utf-8")
    typed = re.findall(r"from (jafhost[\w.]*) import (\w+) as \2", source)
    assert {name: module for module, name in typed} == jafhost._EXPORTS


def test_user_facing_sources_import_only_the_public_modules() -> None:
    imports = _imports()
    assert any(module == "jafhost.testing" for _, module, _ in imports)
    for path, module, names in imports:
        where = path.relative_to(ROOT)
        assert module in PUBLIC_MODULES, f"{where} imports {module}"
        if module == "jafhost":
            missing = sorted(set(names) - set(jafhost.__all__))
            assert not missing, f"{where} imports {missing} from jafhost"


def test_import_jafhost_loads_nothing_heavy() -> None:
    code = (
        "import sys, jafhost; "
        "print(sorted(m for m in ('pluggy', 'pydantic', 'jafhost.types', 'jafhost.host') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
