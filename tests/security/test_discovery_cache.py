"""The discovery cache never decides trust: an edited cache is derived again from the files.

The attacks: with the cache's fingerprint kept, ``"permissions": []`` written into a
plugin's cached entry must not enable a plugin the user never approved (its code must
not run), and a changed ``"entry_point"`` must not make the host import another module
under the plugin's name. Through the real CLI, with a real dist-info on a temporary
path; ground truth: the marker the plugin's code writes into its own data folder (the
one place it may write with no grants) does not appear, the other module's tool is never
offered or run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, ISOLATION_MODES, Site, folder_plugin, run_cli


def _marker(home: Path, name: str) -> Path:
    return home / "plugins" / name / "data" / "ran"


def _code(marker: Path) -> str:
    return (
        f"""
from pathlib import Path

Path({str(marker)!r}).write_text("ran")
"""
        + HI_PLUGIN
    )


EVIL = '''
def evil() -> str:
    """Not the plugin's."""
    return "EVIL-RAN"

@hookimpl
def jaf_tools():
    return [evil]
'''


def _cache_files(home: Path) -> list[Path]:
    return sorted((home / "cache").glob("discovery-*.json"))


def _edit_cache(home: Path, name: str, **changes: object) -> None:
    """Change ``name``'s entry in every discovery cache file, the fingerprint kept."""
    files = _cache_files(home)
    assert files, "list wrote no discovery cache"
    for file in files:
        data = json.loads(file.read_text())
        [entry] = [p for p in data["discovery"]["plugins"] if p["name"] == name]
        entry.update(changes)
        file.write_text(json.dumps(data))


def _set_isolation(home: Path, isolation: str) -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_cache_emptied_of_permissions_does_not_enable_the_plugin(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    _set_isolation(home, isolation)
    marker = _marker(home, "sneaky")
    site.plugin(
        "sneaky", code=_code(marker), manifest=f'[permissions]\nread = ["{secret.parent}"]\n'
    )
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "needs-approval"

    _edit_cache(home, "sneaky", permissions=[])
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "needs-approval"
    assert view["permissions"] == [f"read:{secret.parent}"]
    ran = run_cli("call", "sneaky.hi", site=site, home=home)
    assert ran.returncode != 0
    assert "hi" not in ran.stdout
    assert not marker.exists()
    # the cache was derived again from the files and rewritten
    assert all('"permissions":[]' not in f.read_text() for f in _cache_files(home))


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_cache_naming_another_entry_point_imports_nothing_else(
    isolation: str, site: Site, home: Path
) -> None:
    _set_isolation(home, isolation)
    site.plugin("honest")
    other = site.plugin("other", dist="jaf-library-other", code=EVIL)
    site.remove("jaf-library-other")  # its module stays importable, as any library's
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "enabled"

    _edit_cache(home, "honest", entry_point=other)
    info = json.loads(run_cli("info", "honest", "--json", site=site, home=home).stdout)
    assert info["entry_point"] != other
    tools = run_cli("tools", "--json", site=site, home=home)
    assert tools.returncode == 0, tools.stderr
    assert "evil" not in tools.stdout
    ran = run_cli("call", "honest.evil", site=site, home=home)
    assert ran.returncode != 0
    assert "EVIL-RAN" not in ran.stdout + ran.stderr


def test_a_cache_claiming_requirements_are_met_changes_no_status(site: Site, home: Path) -> None:
    marker = _marker(home, "needy")
    site.plugin("needy", code=_code(marker), requires=["jaf-plugin-missing>=1"])
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "unresolved"

    for file in _cache_files(home):
        data = json.loads(file.read_text())
        data["discovery"]["installed"] = {"jaf-plugin-missing": "9.0"}
        for judged in data["discovery"]["judged"].values():
            judged["problem"] = None
            for dep in judged["deps"]:
                dep.update(installed="9.0", satisfied=True)
        file.write_text(json.dumps(data))
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "unresolved"
    assert run_cli("call", "needy.hi", site=site, home=home).returncode != 0
    assert not marker.exists()


def test_a_cache_moving_a_folder_plugins_entry_point_imports_nothing_else(
    site: Site, home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "plugins"
    package = folder_plugin(folder, "jp_folderly_" + site.tag, "folderly", "")
    other = site.plugin("other", dist="jaf-library-other", code=EVIL)
    site.remove("jaf-library-other")
    env = {"JAFHOST_PLUGIN_PATH": str(folder)}
    ran = run_cli("list", "--json", site=site, home=home, env=env)
    assert json.loads(ran.stdout)[0]["status"] == "enabled", ran.stderr

    _edit_cache(home, "folderly", entry_point=other)
    info = json.loads(run_cli("info", "folderly", "--json", site=site, home=home, env=env).stdout)
    assert info["entry_point"] == package.name
    tools = run_cli("tools", "--json", site=site, home=home, env=env)
    assert tools.returncode == 0 and "evil" not in tools.stdout, tools.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_call_checks_each_plugin_it_starts_against_its_files(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    """``call`` checks cached plugins one at a time, as each starts: two plugins whose
    cached entries were emptied of permissions still wait for approval (neither runs,
    the second checked after the first made discovery scan afresh), and the called one
    answers."""
    _set_isolation(home, isolation)
    site.plugin("honest", code=_code(_marker(home, "honest")))
    sneaky = ["sneaky-a", "sneaky-b"]
    for name in sneaky:
        manifest = f'[permissions]\nread = ["{secret.parent}"]\n'
        site.plugin(name, code=_code(_marker(home, name)), manifest=manifest)
    views = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert {v["name"]: v["status"] for v in views}["sneaky-a"] == "needs-approval"

    for name in sneaky:
        _edit_cache(home, name, permissions=[])
    ran = run_cli("call", "honest.hi", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == "hi"
    assert not any(_marker(home, name).exists() for name in sneaky)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_call_notices_the_called_plugins_manifest_edited_behind_the_cache(
    isolation: str, site: Site, home: Path, secret: Path
) -> None:
    """A manifest edited after the cache was written (its stamp is not in the cache's
    fingerprint, only its digest) to ask for more: ``call`` finds it before the plugin
    starts, which then waits for approval of the new permission."""
    _set_isolation(home, isolation)
    marker = _marker(home, "grower")
    module = site.plugin("grower", code=_code(marker), manifest='[plugin]\nkinds = ["tool"]\n')
    [view] = json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    assert view["status"] == "enabled"

    manifest = site.root / module / "jaf-plugin.toml"
    manifest.write_text(f'[plugin]\nkinds = ["tool"]\n[permissions]\nread = ["{secret.parent}"]\n')
    ran = run_cli("call", "grower.hi", site=site, home=home)
    assert ran.returncode != 0
    assert "needs-approval" in ran.stderr or "approv" in ran.stderr, ran.stderr
    assert not marker.exists()
