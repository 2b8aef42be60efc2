"""Folder plugins: real plugin packages in real folders, found through
``JAFHOST_PLUGIN_PATH`` or ``config.toml [host] plugin_paths``, going through the same
discovery, resolution, approval, enforcement and loading as installed plugins."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.discovery import discover, entry_points
from jafhost.discovery.cache import DiscoveryCache
from jafhost.discovery.entry_points import scan
from jafhost.discovery.folders import ENV_VARIABLE, plugin_folders
from jafhost.discovery.manifest import parse_manifest
from jafhost.discovery.records import PluginInfo
from jafhost.errors import ManifestError, PluginError, StateError
from jafhost.host.host import Host
from jafhost.security import guard

_COUNTER = itertools.count()

MARKER_CODE = """
import pathlib, os
pathlib.Path(os.environ["JAF_TEST_MARKER"]).write_text("imported")
"""

TOOLS = """
def shout(text: str) -> str:
    \"\"\"Upper-case a text.\"\"\"
    return text.upper()

def read(path: str) -> str:
    with open(path) as f:
        return f.read()

@hookimpl
def jaf_tools():
    return [shout, read]
"""


class PluginFolder:
    """A folder of plugin packages, as a plugin author keeps them while developing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.tag = f"{os.getpid()}x{next(_COUNTER)}"

    def module_for(self, name: str) -> str:
        """A package name unique to this test process (imported modules stay imported)."""
        return f"fp_{name.replace('-', '_')}_{self.tag}"

    def package(
        self,
        name: str,
        version: str = "0.1.0",
        *,
        requires: Iterable[str] = (),
        kinds: Iterable[str] = ("tool",),
        permissions: str = "",
        extra: str = "",
        code: str = "",
        module: str | None = None,
        manifest: str | None = None,
    ) -> Path:
        """Write a plugin package; ``manifest`` replaces the generated ``jaf-plugin.toml``."""
        package = self.root / (module or self.module_for(name))
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(
            "from jafhost import hookimpl\n" + textwrap.dedent(code)
        )
        if manifest is None:
            manifest = (
                f"[plugin]\nname = {json.dumps(name)}\nversion = {json.dumps(version)}\n"
                f"requires = {json.dumps(list(requires))}\nkinds = {json.dumps(list(kinds))}\n"
                f"{extra}" + (f"[permissions]\n{permissions}" if permissions else "")
            )
        (package / "jaf-plugin.toml").write_text(textwrap.dedent(manifest))
        return package


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No plugin folders from the caller's environment; ``sys.path`` restored afterwards."""
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def folder(tmp_path: Path) -> PluginFolder:
    return PluginFolder(tmp_path / "plugins")


def _scan(site: Site, *folders: PluginFolder) -> dict[str, PluginInfo]:
    found = scan([str(site.root)], [str(f.root) for f in folders])
    return {p.name: p for p in found.plugins if p.source == "folder"}


def _host(site: Site, home: Path, folder: PluginFolder, monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.setenv(ENV_VARIABLE, str(folder.root))
    return Host(home, paths=[str(site.root)], hook_timeout=5.0)


# -- where plugin folders come from -----------------------------------------------------


def test_plugin_folders_come_from_the_environment_then_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    config = tmp_path / "home" / "config.toml"
    config.parent.mkdir()
    config.write_text('[host]\nplugin_paths = ["~/dev", "relative", "/abs/one"]\n')
    environ = {ENV_VARIABLE: os.pathsep.join(["/abs/one", "", "here", "~/env"])}
    assert plugin_folders(config, environ) == [
        "/abs/one",
        str(tmp_path / "here"),  # relative to the current directory
        str(tmp_path / "user" / "env"),
        str(tmp_path / "user" / "dev"),
        str(tmp_path / "home" / "relative"),  # relative to the folder of config.toml
    ]
    assert plugin_folders(tmp_path / "missing.toml", {}) == []
    assert plugin_folders(None, {ENV_VARIABLE: ""}) == []


def test_plugin_paths_of_the_wrong_type_name_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[host]\nplugin_paths = "/one/folder"\n')
    with pytest.raises(StateError, match=r"config\.toml: \[host\] plugin_paths"):
        plugin_folders(config, {})
    config.write_text("[host\nplugin_paths = []\n")
    with pytest.raises(StateError, match="invalid TOML"):
        plugin_folders(config, {})
    # a config that does not mention plugin_paths is not even parsed by listing
    config.write_text("[host\n")
    assert plugin_folders(config, {}) == []


# -- discovery ------------------------------------------------------------------------------


def test_a_folder_plugin_is_discovered_from_its_manifest(site: Site, folder: PluginFolder) -> None:
    package = folder.package(
        "dev-notes",
        "0.3.0rc1",
        requires=["jafhost>=0.1"],
        extra='summary = "Notes, in development"\n',
        permissions='env = ["NOTES_TOKEN"]\n',
        kinds=("tool", "event"),
    )
    (package.parent / "not_a_plugin").mkdir()  # no jaf-plugin.toml: ignored
    (package.parent / ".hidden").mkdir()
    (package.parent / "README.md").write_text("not a folder")
    plugins = _scan(site, folder)
    assert list(plugins) == ["dev-notes"]
    plugin = plugins["dev-notes"]
    assert plugin == PluginInfo(
        name="dev-notes",
        distribution="dev-notes",
        version="0.3.0rc1",
        entry_point=package.name,
        summary="Notes, in development",
        requires=("jafhost>=0.1",),
        kinds=("tool", "event"),
        permissions=("env:NOTES_TOKEN",),
        manifest=str(package / "jaf-plugin.toml"),
        location=str(package),
        source="folder",
    )


def test_entry_point_may_name_a_module_or_object_inside_the_package(
    site: Site, folder: PluginFolder
) -> None:
    module = folder.module_for("inner")
    folder.package("inner", extra=f'entry_point = "{module}.plugin:Plugin"\n')
    assert _scan(site, folder)["inner"].entry_point == f"{module}.plugin:Plugin"


def test_a_missing_folder_holds_no_plugins(site: Site, tmp_path: Path) -> None:
    found = scan([str(site.root)], [str(tmp_path / "nowhere"), str(tmp_path / "file")])
    assert [p for p in found.plugins if p.source == "folder"] == []


INVALID = [
    ("missing-name", '[plugin]\nversion = "1.0"\n', "plugin.name: missing"),
    ("missing-version", '[plugin]\nname = "x"\n', "plugin.version: missing"),
    ("no-plugin-table", '[permissions]\nenv = ["A"]\n', "plugin.name: missing"),
    ("bad-version", '[plugin]\nname = "x"\nversion = "one"\n', "plugin.version: 'one'"),
    (
        "bad-requirement",
        '[plugin]\nname = "x"\nversion = "1.0"\nrequires = ["ok>=1", "jaf-plugin-notes >>= 1"]\n',
        "plugin.requires[1]: 'jaf-plugin-notes >>= 1' is not a valid requirement",
    ),
    (
        "requires-not-list",
        '[plugin]\nname = "x"\nversion = "1.0"\nrequires = "a>=1"\n',
        "plugin.requires",
    ),
    ("bad-name", '[plugin]\nname = "Bad__Name"\nversion = "1.0"\n', "plugin.name: plugin name"),
    ("version-number", '[plugin]\nname = "x"\nversion = 1.0\n', "plugin.version"),
    ("unknown-key", '[plugin]\nname = "x"\nversion = "1.0"\nauthor = "me"\n', "plugin.author"),
    ("typo-table", '[plugin]\nname = "x"\nversion = "1.0"\n[permisions]\n', "permisions"),
    (
        "entry-point-outside",
        '[plugin]\nname = "x"\nversion = "1.0"\nentry_point = "os.path"\n',
        "plugin.entry_point: 'os.path' is outside the package",
    ),
    (
        "entry-point-syntax",
        '[plugin]\nname = "x"\nversion = "1.0"\nentry_point = "a b"\n',
        "plugin.entry_point: 'a b' is not 'module' or 'module:object'",
    ),
    ("bad-toml", '[plugin\nname = "x"\n', "invalid TOML"),
]


@pytest.mark.parametrize(
    ("manifest", "expected"), [(m, e) for _, m, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_folder_manifests_name_the_file_and_field(
    site: Site, folder: PluginFolder, manifest: str, expected: str
) -> None:
    package = folder.package("x", manifest=manifest)
    (plugin,) = _scan(site, folder).values()
    assert plugin.source == "folder" and plugin.location == str(package)
    assert plugin.error is not None
    assert plugin.error.startswith(str(package / "jaf-plugin.toml") + ": "), plugin.error
    assert expected in plugin.error, plugin.error


def test_package_folders_that_cannot_be_imported_as_themselves_are_invalid(
    site: Site, folder: PluginFolder
) -> None:
    folder.package("dashed", module="my-plugin")
    no_init = folder.package("no-init")
    (no_init / "__init__.py").unlink()
    folder.package("stdlib", module="json")
    clash = folder.module_for("clash")
    (site.root / f"{clash}.py").write_text("")  # the same module name, importable elsewhere
    folder.package("clash", module=clash)
    folder.package("fine")
    plugins = _scan(site, folder)
    assert "'my-plugin' is not an importable module name" in (plugins["dashed"].error or "")
    assert "no __init__.py" in (plugins["no-init"].error or "")
    assert "standard library module" in (plugins["stdlib"].error or "")
    assert f"already importable from {site.root / clash}.py" in (plugins["clash"].error or "")
    assert plugins["fine"].error is None


def test_two_folders_with_one_package_name_are_both_invalid(site: Site, tmp_path: Path) -> None:
    first, second = PluginFolder(tmp_path / "a"), PluginFolder(tmp_path / "b")
    first.package("one", module="fp_shared_pkg")
    second.package("two", module="fp_shared_pkg")
    plugins = _scan(site, first, second)
    assert str(second.root / "fp_shared_pkg") in (plugins["one"].error or "")
    assert str(first.root / "fp_shared_pkg") in (plugins["two"].error or "")


def test_an_installed_manifest_must_not_carry_folder_keys(site: Site) -> None:
    for key, value in [("name", '"x"'), ("version", '"1.0"'), ("requires", '["a"]')]:
        with pytest.raises(ManifestError, match=rf"/m\.toml: plugin\.{key}: only a folder"):
            parse_manifest(f"[plugin]\n{key} = {value}\n", "/m.toml")
    site.plugin("installed", manifest='[plugin]\nkinds = ["tool"]\nversion = "9.9"\n')
    (plugin,) = scan([str(site.root)]).plugins
    assert "plugin.version: only a folder plugin's manifest may set this" in (plugin.error or "")


def test_a_folder_plugin_and_an_installed_plugin_with_one_name_are_both_invalid(
    site: Site, folder: PluginFolder
) -> None:
    site.plugin("notes", version="1.4.0")
    package = folder.package("notes", "2.0.0.dev1")
    found = scan([str(site.root)], [str(folder.root)]).plugins
    assert len(found) == 2
    by_source = {p.source: p for p in found}
    assert f"also claimed by the folder plugin at {package}" in (
        by_source["distribution"].error or ""
    )
    assert "also claimed by jaf-plugin-notes 1.4.0" in (by_source["folder"].error or "")


def test_a_folder_plugin_may_not_take_an_installed_distribution_name(
    site: Site, folder: PluginFolder
) -> None:
    site.distribution("some-library", "3.1")
    folder.package("some-library")
    error = _scan(site, folder)["some-library"].error or ""
    assert "also the name of the installed distribution some-library 3.1" in error


# -- resolution -----------------------------------------------------------------------------


def test_folder_plugin_requirements_resolve_like_requires_dist(
    site: Site, home: Path, folder: PluginFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.plugin("base", version="1.5.0", dist="jaf-plugin-base")
    folder.package("uses-base", requires=["jaf-plugin-base>=1.2", "jafhost>=0.1"])
    folder.package("too-new", requires=["jaf-plugin-base>=2"])
    folder.package("no-host", requires=["jafhost>=99"])
    folder.package("missing", requires=["jaf-plugin-nowhere"])
    host = _host(site, home, folder, monkeypatch)
    resolution = host.resolution()
    uses = resolution.get("uses-base")
    assert uses is not None and uses.status == "enabled", uses
    assert uses.requires_plugins() == ["base"]
    assert [(d.kind, d.installed, d.satisfied) for d in uses.dependencies] == [
        ("plugin", "1.5.0", True),
        ("host", "0.1.0", True),
    ]
    statuses = {r.name: (r.status, r.reason) for r in resolution.plugins}
    assert statuses["too-new"] == (
        "unresolved",
        "needs jaf-plugin-base>=2 (plugin base); installed 1.5.0",
    )
    assert statuses["no-host"][0] == "unresolved" and "jafhost>=99" in str(statuses["no-host"][1])
    assert statuses["missing"] == ("unresolved", "needs jaf-plugin-nowhere; not installed")
    assert resolution.order.index("base") < resolution.order.index("uses-base")
    # disabling the installed dependency makes the folder plugin unresolved, and says so
    host.disable(["base"])
    entry = host.resolution().get("uses-base")
    assert entry is not None
    assert (entry.status, entry.reason) == ("unresolved", "needs plugin base, which is disabled")


def test_plugins_depend_on_a_folder_plugin_by_its_name(
    site: Site, home: Path, folder: PluginFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder.package("core-dev", "0.4.0")
    folder.package("helper-dev", requires=["core-dev>=0.3"])
    site.plugin("installed-user", requires=["core-dev>=0.4,<1"])
    site.plugin("wants-newer", requires=["core-dev>=1"])
    resolution = _host(site, home, folder, monkeypatch).resolution()
    statuses = {r.name: (r.status, r.reason) for r in resolution.plugins}
    assert statuses["core-dev"] == ("enabled", None)
    assert statuses["helper-dev"] == ("enabled", None)
    assert statuses["installed-user"] == ("enabled", None)
    assert statuses["wants-newer"] == (
        "unresolved",
        "needs core-dev>=1 (plugin core-dev); installed 0.4.0",
    )
    for user in ("helper-dev", "installed-user"):
        entry = resolution.get(user)
        assert entry is not None and entry.requires_plugins() == ["core-dev"]
        assert resolution.order.index("core-dev") < resolution.order.index(user)


# -- approval, enforcement, loading -----------------------------------------------------------


@pytest.mark.usefixtures("inprocess")  # its marker variable; the import in this process
def test_a_folder_plugin_needs_approval_then_loads_and_is_enforced(
    site: Site, home: Path, folder: PluginFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "note.txt").write_text("granted text")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    site.plugin("base", dist="jaf-plugin-base")
    package = folder.package(
        "dev-tools",
        requires=["jaf-plugin-base>=1"],
        permissions=f'read = ["{allowed}"]\n',
        code=TOOLS,
    )
    host = _host(site, home, folder, monkeypatch)
    view = host.plugin("dev-tools")
    assert (view.status, view.reason) == ("needs-approval", f"requests permissions: read:{allowed}")
    with pytest.raises(PluginError, match="need approval"):
        host.enable(["dev-tools"])
    asked: list[list[str]] = []
    host.enable(["dev-tools"], approve=lambda info, new: asked.append(new) or True)
    assert asked == [[f"read:{allowed}"]]
    assert host.plugin("dev-tools").status == "enabled"

    async def scenario() -> list[object]:
        async with host:
            assert host.active == ["base", "dev-tools"]
            loaded = host.loaded("dev-tools")
            assert loaded is not None and loaded.status == "active", loaded and loaded.error
            shout = await host.call("dev-tools.shout", {"text": "hello"})
            granted = await host.call("dev-tools.read", {"path": str(allowed / "note.txt")})
            denied = await host.call("dev-tools__read", {"path": str(secret)})
            return [shout, granted, denied]

    shout, granted, denied = asyncio.run(scenario())
    assert shout.result == "HELLO"  # type: ignore[attr-defined]
    assert granted.result == "granted text"  # type: ignore[attr-defined]
    error = denied.error  # type: ignore[attr-defined]
    assert error is not None and error.code == "permission_denied"
    assert error.permission == f"read:{secret}"
    assert guard.DENIALS[-1][:2] == ("dev-tools", f"read:{secret}")
    # imported by its folder name from the plugin folder, appended to the path
    assert sys.modules[package.name].__file__ == str(package / "__init__.py")
    assert sys.path[-1] == str(folder.root)


def test_a_folder_plugin_runs_in_a_worker_process_too(
    site: Site, home: Path, folder: PluginFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    folder.package("dev-worker", code=TOOLS)
    host = _host(site, home, folder, monkeypatch)
    host.enable(["dev-worker"], isolation="process")

    async def scenario() -> list[object]:
        async with host:
            shout = await host.call("dev-worker.shout", {"text": "from a worker"})
            denied = await host.call("dev-worker.read", {"path": str(secret)})
            return [shout, denied]

    shout, denied = asyncio.run(scenario())
    assert shout.result == "FROM A WORKER", shout  # type: ignore[attr-defined]
    error = denied.error  # type: ignore[attr-defined]
    assert error is not None and error.code == "permission_denied", denied


def test_a_new_version_asking_for_more_goes_back_to_needs_approval(
    site: Site, home: Path, folder: PluginFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = folder.module_for("grows")
    folder.package("grows", "0.1.0", permissions='env = ["A"]\n', module=module)
    host = _host(site, home, folder, monkeypatch)
    host.enable(["grows"], approve=lambda info, new: True)
    folder.package("grows", "0.2.0", permissions='env = ["A", "B"]\n', module=module)
    view = _host(site, home, folder, monkeypatch).plugin("grows")
    assert view.status == "needs-approval"
    assert view.reason == "version 0.2.0 requests permissions not approved at 0.1.0: env:B"


# -- the discovery cache ------------------------------------------------------------------------


def _no_scan(*args: object) -> None:
    raise AssertionError("scanned although the cache is valid")


def test_cache_covers_plugin_folders(
    site: Site, folder: PluginFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    paths, folders = [str(site.root)], [str(folder.root)]

    def names() -> dict[str, str]:
        found = discover(cache_dir, paths, folders).plugins
        return {p.name: p.version for p in found}

    module = folder.module_for("one")
    package = folder.package("one", "1.0.0", module=module)
    assert names() == {"one": "1.0.0"}
    cache_file = DiscoveryCache(cache_dir, paths, folders).file
    assert cache_file.exists()
    assert cache_file != DiscoveryCache(cache_dir, paths).file  # folders are part of the key

    # a cache edited by hand is derived again from the files
    data = json.loads(cache_file.read_text())
    data["discovery"]["plugins"][0]["summary"] = "from the cache"
    cache_file.write_text(json.dumps(data))
    assert discover(cache_dir, paths, folders).plugins[0].summary == ""
    # editing the plugin's code is not a reason to scan again
    (package / "__init__.py").write_text("from jafhost import hookimpl\nX = 1\n")
    (package / "tools.py").write_text("")
    monkeypatch.setattr(entry_points, "scan", _no_scan)
    assert discover(cache_dir, paths, folders).plugins[0].summary == ""
    monkeypatch.undo()

    # editing the manifest, even within the same clock tick, is noticed
    manifest = package / "jaf-plugin.toml"
    before = manifest.stat()
    manifest.write_text(manifest.read_text().replace('"1.0.0"', '"1.0.1"'))
    os.utime(manifest, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert names() == {"one": "1.0.1"}
    manifest.write_text(manifest.read_text() + "[permisions]\n")
    assert "permisions" in (discover(cache_dir, paths, folders).plugins[0].error or "")
    manifest.write_text(manifest.read_text().replace("[permisions]\n", ""))
    assert names() == {"one": "1.0.1"}

    # adding and removing a plugin package
    second = folder.package("two", "2.0.0")
    assert names() == {"one": "1.0.1", "two": "2.0.0"}
    (second / "jaf-plugin.toml").unlink()
    assert names() == {"one": "1.0.1"}
    (second / "jaf-plugin.toml").write_text('[plugin]\nname = "two"\nversion = "2.1"\n')
    assert names() == {"one": "1.0.1", "two": "2.1"}
    for item in second.iterdir():
        item.unlink()
    second.rmdir()
    assert names() == {"one": "1.0.1"}

    # removing __init__.py makes it invalid; renaming the package folder is noticed
    (package / "__init__.py").unlink()
    assert "no __init__.py" in (discover(cache_dir, paths, folders).plugins[0].error or "")
    (package / "__init__.py").write_text("")
    renamed = package.with_name(module + "_renamed")
    package.rename(renamed)
    (plugin,) = discover(cache_dir, paths, folders).plugins
    assert plugin.location == str(renamed) and plugin.error is None


def test_cache_notices_a_plugin_folder_that_appears_later(site: Site, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    paths, folders = [str(site.root)], [str(tmp_path / "later")]
    assert discover(cache_dir, paths, folders).plugins == []
    PluginFolder(tmp_path / "later").package("late")
    assert [p.name for p in discover(cache_dir, paths, folders).plugins] == ["late"]


# -- the real CLI ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("inprocess")  # its marker variable; the import in this process
def test_cli_lists_folder_plugins_with_their_source_and_never_imports_them(
    site: Site, home: Path, folder: PluginFolder, tmp_path: Path
) -> None:
    marker = tmp_path / "imported.txt"
    site.plugin("installed")
    package = folder.package(
        "dev-sneaky",
        permissions=f'write = ["{tmp_path}"]\nenv = ["JAF_TEST_MARKER"]\n',
        code=MARKER_CODE,
    )
    env = {"JAF_TEST_MARKER": str(marker), ENV_VARIABLE: str(folder.root)}

    result = run_cli("list", "--json", site=site, home=home, env=env)
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["installed"]["source"] == "distribution"
    assert listed["dev-sneaky"]["source"] == "folder"
    assert listed["dev-sneaky"]["distribution"] == "dev-sneaky"
    assert listed["dev-sneaky"]["status"] == "needs-approval"
    assert listed["dev-sneaky"]["permissions"] == ["env:JAF_TEST_MARKER", f"write:{tmp_path}"]

    result = run_cli("list", site=site, home=home, env={**env, "COLUMNS": "500"})
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "dev-sneaky" in line)
    assert f"folder {package}" in row
    assert "jaf-plugin-installed" in result.stdout

    info = run_cli("info", "dev-sneaky", "--json", site=site, home=home, env=env)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert (data["source"], data["location"]) == ("folder", str(package))
    assert data["entry_point"] == package.name

    assert run_cli("info", "dev-sneaky", site=site, home=home, env=env).returncode == 0
    enable = run_cli("enable", "dev-sneaky", site=site, home=home, env=env)
    assert enable.returncode == 1 and "--yes" in enable.stderr
    enable = run_cli("enable", "dev-sneaky", "--yes", site=site, home=home, env=env)
    assert enable.returncode == 0, enable.stderr
    assert not marker.exists(), "listing, inspecting or enabling imported plugin code"
    # the marker works: loading the plugin does import it
    result = run_cli("doctor", "--json", site=site, home=home, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert marker.read_text() == "imported"


def test_cli_finds_folders_from_config_and_calls_a_folder_plugin_tool(
    site: Site, home: Path, folder: PluginFolder
) -> None:
    folder.package("dev-echo", code=TOOLS)
    (home / "config.toml").write_text(f"[host]\nplugin_paths = [{json.dumps(str(folder.root))}]\n")
    result = run_cli("list", "--json", site=site, home=home)
    assert result.returncode == 0, result.stderr
    (plugin,) = [p for p in json.loads(result.stdout) if p["name"] == "dev-echo"]
    assert (plugin["source"], plugin["status"]) == ("folder", "enabled")
    call = run_cli("call", "dev-echo.shout", "-a", "text=from a folder", site=site, home=home)
    assert call.returncode == 0, call.stderr
    assert json.loads(call.stdout) == "FROM A FOLDER"


def test_cli_reports_a_bad_plugin_paths_setting(site: Site, home: Path) -> None:
    site.plugin("fine")
    (home / "config.toml").write_text('[host]\nplugin_paths = "/not/a/list"\n')
    result = run_cli("list", site=site, home=home)  # lists with the defaults, and says so
    assert result.returncode == 0
    assert result.stderr.startswith("warning: ") and "plugin_paths" in result.stderr
    assert result.stderr.count("\n") == 1
    result = run_cli("tools", site=site, home=home)  # runs plugins: refuses
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "plugin_paths" in result.stderr
