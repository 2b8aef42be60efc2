"""The lock file read and written, and what ``lock`` and ``sync`` refuse before any change.

A bad lock file (not TOML, a version this host does not read, a missing key, a hash
that is not ``sha256:`` and 64 hex digits) stops ``sync`` with one line naming the file
and the key, exit 2, and the home untouched. Folder plugins and editable installs have no
wheel to pin: ``lock`` refuses them by name and writes nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from conftest import Site, folder_plugin, run_cli
from jafhost.ecosystem import lock_file
from jafhost.ecosystem.lock_make import travelling

HASH = "sha256:" + "ab" * 32
GOOD = f"""version = 1

[[distribution]]
name = "jaf-plugin-notes"
version = "1.0.0"
hashes = ["{HASH}"]

[distribution.plugins.notes]
enabled = true
isolation = "process"
grants = ["read:~/notes", "write:$PLUGIN_DATA/out"]
"""


def test_a_lock_file_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "jafhost.lock"
    path.write_text(GOOD)
    lock = lock_file.read(path)
    (notes,) = lock.distributions
    assert (notes.name, notes.version, notes.hashes) == ("jaf-plugin-notes", "1.0.0", (HASH,))
    (plugin,) = notes.plugins
    assert plugin == lock_file.LockedPlugin(
        "notes", True, ("read:~/notes", "write:$PLUGIN_DATA/out"), "process"
    )
    again = tmp_path / "again.lock"
    lock_file.write(lock, again)
    assert lock_file.read(again) == lock
    text = again.read_text()
    assert tomllib.loads(text) == tomllib.loads(GOOD)
    assert "[[distribution]]" in text and "[distribution.plugins.notes]" in text


def test_grants_under_the_users_home_are_written_with_a_tilde() -> None:
    assert travelling("read:/home/ada/notes", "/home/ada") == "read:~/notes"
    assert travelling("write:/home/ada", "/home/ada/") == "write:~"
    assert travelling("read:/home/adam/notes", "/home/ada") == "read:/home/adam/notes"
    assert travelling("net:api.example.com:443", "/home/ada") == "net:api.example.com:443"
    assert travelling("write:$PLUGIN_DATA/x", "/home/ada") == "write:$PLUGIN_DATA/x"


BAD = [
    ("version = 1\n[[distribution]\n", "not TOML"),
    (GOOD.replace("version = 1", "version = 2"), "version: 2 is not a version this host"),
    (GOOD.replace("version = 1\n", ""), "version: missing"),
    (GOOD.replace(f'hashes = ["{HASH}"]\n', ""), "distribution[1].hashes: missing"),
    (
        GOOD.replace(HASH, "md5:abc"),
        "distribution jaf-plugin-notes.hashes: 'md5:abc' is not sha256: and 64 hex digits",
    ),
    (
        GOOD.replace("enabled = true\n", ""),
        "distribution jaf-plugin-notes.plugins.notes.enabled: missing",
    ),
    (
        GOOD.replace("read:~/notes", "read:notes"),
        "distribution jaf-plugin-notes.plugins.notes.grants: 'read:notes'",
    ),
    (GOOD.replace("1.0.0", "one"), "distribution jaf-plugin-notes.version: 'one' is not a"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_lock_file_is_one_line_naming_the_file_and_key(
    tmp_path: Path, home: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.lock"
    path.write_text(text)
    result = run_cli("sync", str(path), "--yes", home=home)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: lock file '{path}': {message}")
    assert list(home.iterdir()) == []


def test_lock_refuses_a_folder_plugin_by_name(tmp_path: Path, home: Path) -> None:
    folder_plugin(tmp_path / "dev", "jp_lockfolder", "lockfolder", "")
    out = tmp_path / "jafhost.lock"
    result = run_cli(
        "lock",
        "--output",
        str(out),
        "--index",
        "http://127.0.0.1:9/simple/",
        home=home,
        env={"JAFHOST_PLUGIN_PATH": str(tmp_path / "dev")},
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: nothing written: folder plugins cannot be locked (no wheel, no hashes): "
        "lockfolder ("
    )
    assert not out.exists()


def test_lock_refuses_an_editable_install_by_name(site: Site, tmp_path: Path, home: Path) -> None:
    site.plugin("lockedit")
    dist_info = next(site.root.glob("jaf_plugin_lockedit-*.dist-info"))
    url = {"url": f"file://{tmp_path}/src", "dir_info": {"editable": True}}
    (dist_info / "direct_url.json").write_text(json.dumps(url))
    out = tmp_path / "jafhost.lock"
    result = run_cli(
        "lock", "--output", str(out), "--index", "http://127.0.0.1:9/simple/", site=site, home=home
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: nothing written: editable installs cannot be locked (no wheel, no hashes): "
        "jaf-plugin-lockedit\n"
    )
    assert not out.exists()
    assert not (home / "state.json").exists()


def _dockerfile() -> list[tuple[str, str]]:
    """The instructions of the Dockerfile in docs/supply-chain.md's lock and sync section
    (continuation lines joined)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "supply-chain.md").read_text()
    section = doc.split("## Lock and sync for a fleet", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```dockerfile\n(.*?)```", section, re.S)
    joined = block.replace("\\\n", " ")
    return [
        (line.split(None, 1)[0], line.split(None, 1)[1])
        for line in joined.splitlines()
        if line.strip()
    ]


def test_the_documented_dockerfile_installs_the_host_then_syncs_the_lock_under_the_policy() -> None:
    import typer

    from jafhost.cli.app import app
    from jafhost.home.operator_policy import SYSTEM_POLICY

    steps = _dockerfile()
    kinds = [kind for kind, _ in steps]
    assert kinds[0] == "FROM"
    copies = {
        shlex.split(rest)[1]: (number, shlex.split(rest)[0])
        for number, (kind, rest) in enumerate(steps)
        if kind == "COPY"
    }
    runs = [
        (number, shlex.split(part))
        for number, (kind, rest) in enumerate(steps)
        if kind == "RUN"
        for part in rest.split("&&")
    ]
    env = dict(item.split("=", 1) for kind, rest in steps if kind == "ENV" for item in rest.split())
    assert "JAFHOST_HOME" in env
    cli = typer.main.get_command(app)
    syncs = []
    installed_at = None
    for number, words in runs:
        if words[:4] == ["python", "-m", "pip", "install"]:
            assert any(w.startswith("jafhost") for w in words[4:])
            installed_at = number
        elif words[0] == "jafhost":
            command = cli.commands[words[1]]  # type: ignore[attr-defined]
            command.make_context(words[1], words[2:])  # options and arguments as the CLI parses
            if words[1] == "sync":
                syncs.append((number, words))
    ((sync_at, words),) = syncs
    assert "--yes" in words  # no terminal in a build
    lock = next(w for w in words[2:] if not w.startswith("-"))
    copied_at, source = copies[lock]
    assert source == "jafhost.lock"  # what `jafhost lock` writes by default
    assert installed_at is not None and installed_at < sync_at and copied_at < sync_at
    policy_at, _ = copies[str(SYSTEM_POLICY)]
    assert policy_at < sync_at


def test_a_lock_running_a_plugin_in_process_under_a_process_minimum_is_refused(
    tmp_path: Path, home: Path
) -> None:
    (home / "config.toml").write_text('[policy]\nisolation = "process"\n')
    kept = (home / "config.toml").read_bytes()
    path = tmp_path / "inprocess.lock"
    path.write_text(GOOD.replace('isolation = "process"', 'isolation = "inprocess"'))
    result = run_cli("sync", str(path), "--yes", "--index", "http://127.0.0.1:9/simple/", home=home)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: nothing changed: cannot run notes in process: the operator's policy ("
    )
    assert result.stderr.count("\n") == 1
    assert [p.name for p in home.iterdir() if p.name != "cache"] == ["config.toml"]
    assert (home / "config.toml").read_bytes() == kept
