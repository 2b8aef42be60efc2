"""``narrow``: a plugin's grants AND an agent's policy, as an intersection of coverage.

Table tests over real folders (links, ``..``, trailing slashes, ``~``, ``$PLUGIN_DATA``)
and the host, port, variable and program patterns grants use; each result is also
checked never to cover more than the grants do (compiled into a real ``Policy``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jafhost.errors import PermissionSyntaxError
from jafhost.security.narrowing import Narrowing, narrow, policy_of
from jafhost.security.policy import Policy


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``data/{a,ab,b}``, ``data/a/deep``, a link ``alias -> data``, a link
    ``data/out -> /etc`` and the plugin's own ``plugin-data`` folder."""
    data = tmp_path / "data"
    for sub in ("a/deep", "ab", "b"):
        (data / sub).mkdir(parents=True)
    (tmp_path / "alias").symlink_to(data)
    (data / "out").symlink_to("/etc")
    (tmp_path / "plugin-data").mkdir()
    (tmp_path / "plugin-cache").mkdir()
    return tmp_path


def run(tree: Path, grants: list[str], **kinds: tuple[str, ...]) -> list[str]:
    text = [g.replace("TREE", str(tree)) for g in grants]
    policy = {k: tuple(e.replace("TREE", str(tree)) for e in v) for k, v in kinds.items()}
    result = narrow(text, policy, tree / "plugin-data", tree / "plugin-cache")
    return [r.replace(str(tree), "TREE") for r in result]


PATHS = [
    # (grants, policy entries for read, expected)
    (["read:TREE/data"], ("read:TREE/data/a",), ["read:TREE/data/a"]),
    (["read:TREE/data/a"], ("read:TREE/data",), ["read:TREE/data/a"]),
    (["read:TREE/data/a"], ("TREE/data/ab",), []),
    (["read:TREE/data/ab"], ("TREE/data/a",), []),
    (["read:TREE/data"], ("TREE/data/a/",), ["read:TREE/data/a"]),
    (["read:TREE/data"], ("TREE/data/b/../a",), ["read:TREE/data/a"]),
    (["read:TREE/data/a"], ("TREE/data/a/../b",), []),
    (["read:TREE/data"], ("TREE/alias/a",), ["read:TREE/data/a"]),
    (["read:TREE/alias"], ("TREE/data/a/deep",), ["read:TREE/data/a/deep"]),
    (["read:TREE/data"], ("TREE/data/out",), []),
    (["read:TREE/data"], ("/etc",), []),
    (
        ["read:TREE/data/a", "read:TREE/data/b"],
        ("TREE/data",),
        ["read:TREE/data/a", "read:TREE/data/b"],
    ),
    (["read:TREE/data"], ("TREE/data/a", "TREE/data/b"), ["read:TREE/data/a", "read:TREE/data/b"]),
    (["read:TREE/data"], (), []),
]


@pytest.mark.parametrize(("grants", "allowed", "expected"), PATHS)
def test_paths_meet_by_whole_components_on_resolved_paths(
    tree: Path, grants: list[str], allowed: tuple[str, ...], expected: list[str]
) -> None:
    assert run(tree, grants, read=allowed) == expected


def test_a_link_planted_in_a_writable_folder_leads_nowhere(tree: Path) -> None:
    """The plugin may write its data folder: a link there to ``data/b`` is not followed
    (as ``Policy.compile`` drops such a grant), so the policy entry allows nothing."""
    (tree / "plugin-data" / "sneak").symlink_to(tree / "data" / "b")
    grants = ["read:TREE/data", "write:$PLUGIN_DATA"]
    assert run(tree, grants, read=("$PLUGIN_DATA/sneak",)) == ["write:$PLUGIN_DATA"]


def test_plugin_data_placeholders_are_expanded_on_both_sides(tree: Path) -> None:
    real = os.path.realpath(tree / "plugin-data")
    result = narrow(
        ["write:$PLUGIN_DATA/cache", "read:$PLUGIN_CACHE"],
        {"write": ("$PLUGIN_DATA",), "read": (f"{os.path.realpath(tree / 'plugin-cache')}/x",)},
        tree / "plugin-data",
        tree / "plugin-cache",
    )
    assert result == [
        f"read:{os.path.realpath(tree / 'plugin-cache')}/x",
        f"write:{real}/cache",
    ]
    assert narrow(["write:$PLUGIN_DATA/cache"], {"write": ("$PLUGIN_DATA",)}) == []


def test_home_is_expanded_in_a_policy(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tree / "data"))
    assert run(tree, ["read:TREE/data"], read=("~/a",)) == ["read:TREE/data/a"]


NET = [
    ("*.example.com:443", "api.example.com:*", ["net:api.example.com:443"]),
    ("*.example.com:*", "net:api.example.com:443", ["net:api.example.com:443"]),
    ("api.example.com:443", "*.example.com", ["net:api.example.com:443"]),
    ("*.example.com", "example.com", []),
    ("example.com", "*.example.com", []),
    ("*.example.com", "evil-example.com", []),
    ("*.example.com", "*.api.example.com:8080", ["net:*.api.example.com:8080"]),
    ("*.api.example.com", "*.example.com:443", ["net:*.api.example.com:443"]),
    ("*.example.com", "*.example.org", []),
    ("127.0.0.1:*", "127.0.0.1:8080", ["net:127.0.0.1:8080"]),
    ("127.0.0.1:80", "127.0.0.1:81", []),
    ("127.0.0.1:80", "127.0.0.2:80", []),
    ("*", "api.example.com:443", ["net:api.example.com:443"]),
    ("api.example.com:443", "*", ["net:api.example.com:443"]),
    ("*", "*", ["net:*"]),
    ("*", "*:443", ["net:*:443"]),
    ("[::1]:*", "[0:0::1]:9", ["net:[::1]:9"]),
    ("API.Example.com:443", "api.example.com.:443", ["net:api.example.com:443"]),
]


@pytest.mark.parametrize(("grant", "allowed", "expected"), NET)
def test_hosts_and_ports_meet_as_grants_match(
    grant: str, allowed: str, expected: list[str]
) -> None:
    from jafhost.security.permissions import make

    assert narrow([f"net:{make('net', grant).value}"], {"net": (allowed,)}) == expected


@pytest.mark.parametrize(
    ("grant", "allowed", "expected"),
    [
        ("AWS_*", "AWS_KEY", ["env:AWS_KEY"]),
        ("AWS_KEY", "AWS_*", ["env:AWS_KEY"]),
        ("AWS_*", "AWS_S3_*", ["env:AWS_S3_*"]),
        ("AWS_S3_*", "AWS_*", ["env:AWS_S3_*"]),
        ("*", "TOKEN", ["env:TOKEN"]),
        ("TOKEN", "OTHER", []),
        ("AWS_*", "AWX_*", []),
    ],
)
def test_variable_patterns_meet(grant: str, allowed: str, expected: list[str]) -> None:
    assert narrow([f"env:{grant}"], {"env": (allowed,)}) == expected


@pytest.mark.parametrize(
    ("grant", "allowed", "expected"),
    [
        ("git", "/usr/bin/git", ["run:/usr/bin/git"]),
        ("/usr/bin/git", "git", ["run:/usr/bin/git"]),
        ("/usr/bin/git", "/usr/bin/../bin/git", ["run:/usr/bin/git"]),
        ("git", "*", ["run:git"]),
        ("git", "ls", []),
        ("*", "git", []),  # a grant "*" names a program called "*" (Policy.may_run)
        ("/usr/bin/git", "/usr/local/bin/git", []),
    ],
)
def test_programs_meet(grant: str, allowed: str, expected: list[str]) -> None:
    assert narrow([f"run:{grant}"], {"run": (allowed,)}) == expected


def test_kinds_not_listed_keep_their_grants_and_flags_follow_the_policy() -> None:
    grants = ["env:TOKEN", "ffi", "net:127.0.0.1:*", "observe", "run:git"]
    assert narrow(grants, {}) == grants
    assert narrow(grants, {"ffi": (), "run": ()}) == ["env:TOKEN", "net:127.0.0.1:*", "observe"]
    assert narrow(grants, {"ffi": ("true",), "observe": ("observe",)}) == grants
    assert narrow(["env:TOKEN"], {"ffi": ("ffi",), "observe": ("true",)}) == ["env:TOKEN"]


@pytest.mark.parametrize(
    ("kinds", "named"),
    [
        ({"raed": ("/x",)}, "raed"),
        ({"read": ("relative/path",)}, "relative/path"),
        ({"net": ("bad host:1",)}, "bad host"),
        ({"ffi": ("yes",)}, "yes"),
    ],
)
def test_a_bad_policy_entry_is_refused_naming_it(
    kinds: dict[str, tuple[str, ...]], named: str
) -> None:
    with pytest.raises(PermissionSyntaxError, match=named.split()[0]):
        narrow(["read:/x"], kinds)


def covered(grants: list[str], tree: Path) -> set[str]:
    """Which probe paths under ``tree`` a compiled ``Policy`` of ``grants`` may read."""
    policy = Policy.compile("probe", grants, tree / "plugin-data", tree / "plugin-cache")
    probes = [tree / "data" / p for p in ("a", "a/deep", "ab", "b", "out")] + [Path("/etc")]
    return {str(p) for p in probes if policy.may_read(str(p))}


@pytest.mark.parametrize(("grants", "allowed", "expected"), PATHS)
def test_a_narrowed_set_never_covers_more_than_the_grants(
    tree: Path, grants: list[str], allowed: tuple[str, ...], expected: list[str]
) -> None:
    full = [g.replace("TREE", str(tree)) for g in grants]
    narrowed = [e.replace("TREE", str(tree)) for e in run(tree, grants, read=allowed)]
    assert covered(narrowed, tree) <= covered(full, tree)


def test_a_narrowed_set_taken_as_a_policy_keeps_it_within_new_grants(tree: Path) -> None:
    """A worker restarted after a change of grants runs with what of its set the new
    grants still cover (``WorkerPool.narrowed``): never more than either."""
    narrowed = narrow([f"read:{tree}/data", "run:git"], {"read": (f"{tree}/data/a",)})
    assert narrowed == [f"read:{tree}/data/a", "run:git"]
    assert narrow([f"read:{tree}/data", "run:git"], policy_of(narrowed)) == narrowed
    assert narrow([f"read:{tree}/data/a/deep"], policy_of(narrowed)) == [f"read:{tree}/data/a/deep"]
    assert narrow(["run:git", "ffi"], policy_of(narrowed)) == ["run:git"]


def test_a_denial_names_the_policy_only_when_the_grants_would_have_allowed_it(
    tree: Path,
) -> None:
    data = tree / "data"
    full = Policy.compile("files", [f"read:{data}"], tree / "plugin-data")
    narrowing = Narrowing("support", "files", {"read": (f"read:{data}/a",)}, (), full)
    hint = narrowing.hint(f"read:{data}/b")
    assert hint == f"denied by agent support's policy for plugin files, which allows read:{data}/a"
    assert narrowing.hint("read:/etc/passwd") is None  # not granted either: a grant's business
    assert narrowing.hint("net:127.0.0.1:80") is None  # a kind the policy leaves alone
    message = f"read:{data}/b: plugin files may not read x (to allow it: jafhost grant files y)"
    assert narrowing.explain(message, f"read:{data}/b") == (
        f"read:{data}/b: plugin files may not read x ({hint})"
    )
