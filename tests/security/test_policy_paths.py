"""The policy resolves grant paths with string work (no ``pathlib`` in a worker before its
sandbox): the same components as ``pathlib``, and the same policy from strings as from
``Path`` objects, links leading out of a writable folder still dropped."""

from __future__ import annotations

import os
import pickle
from pathlib import Path, PurePosixPath

import pytest

from jafhost.security.policy import Policy, _parent, _parts
from jafhost.security.sandbox.spec import SandboxSpec

ODD_PATHS = ["/", "/a", "/a/b/", "//a//b", "/a/./b/.", "/a/../b", "a", "a/b", ".", "./a/..", ""]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_components_and_parent_are_pathlib_s(path: str) -> None:
    pure = PurePosixPath(path)
    expected = [p for p in pure.parts if p not in ("/", "//")]
    assert _parts(path) == expected
    parent = str(pure.parent)
    if path.startswith("//"):  # pathlib keeps POSIX's two-slash root; the kernel reads one
        parent = parent[1:]
    assert _parent(path) == parent


def test_a_policy_compiled_from_strings_is_the_one_from_paths(tmp_path: Path) -> None:
    data, cache, home = tmp_path / "data", tmp_path / "cache", tmp_path / "home"
    for folder in (data, cache, home):
        folder.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", data / "link")
    grants = ["read:$PLUGIN_DATA/link/x", "write:$PLUGIN_CACHE/sub", "read:/etc/hostname"]
    from_paths = Policy.compile("p", grants, data, cache, home=home)
    from_strings = Policy.compile("p", grants, str(data), str(cache), home=str(home))
    assert from_strings == from_paths
    assert any("link out of the writable folder" in why for why in from_strings.dropped)
    assert not from_strings.may_read(str(tmp_path / "outside" / "x"))
    assert from_strings.may_write(str(cache / "sub" / "file"))


def test_the_plugin_cache_defaults_beside_its_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "plugins" / "p" / "data"
    data.mkdir(parents=True)
    policy = Policy.compile("p", ["read:$PLUGIN_CACHE/notes"], str(data) + "/.")
    assert str(tmp_path / "plugins" / "p" / "cache" / "notes") in policy.read


def test_a_sandbox_spec_travels_and_copies_whole() -> None:
    spec = SandboxSpec("p", ("read:/x",), "/d", "/c", deny=(("read:/etc", "policy.toml"),))
    again = SandboxSpec.from_json(spec.to_json())
    assert again == spec and hash(again) == hash(spec)
    assert pickle.loads(pickle.dumps(spec)) == spec
    moved = spec.replace(parent_pid=7)
    assert moved.parent_pid == 7 and spec.parent_pid == 0 and moved != spec
    with pytest.raises(TypeError):
        spec.replace(nothing=1)
    with pytest.raises(AttributeError):
        spec.plugin = "other"  # type: ignore[misc]
