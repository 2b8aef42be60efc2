"""The parts of search and of the review before install, on their own: the index pages,
ranged reads, wheels read without installing them, the review's own hash check, and the
record of installed wheel hashes. The files come from the session's real index on
127.0.0.1 (``tests/local_index.py``)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from local_index import Dist, LocalIndexes, build_wheel

from jafhost.ecosystem import wheel_hashes
from jafhost.ecosystem.index import IndexFile, SimpleIndex, latest
from jafhost.ecosystem.remote_file import open_remote
from jafhost.ecosystem.review import Planned, ReviewError, fetch, review, source_arguments
from jafhost.ecosystem.wheel_contents import WheelError, read_wheel, startup_files
from jafhost.home.paths import HomeLayout

NOTES_1 = "jaf_plugin_notes-1.0.0-py3-none-any.whl"
NOTES_2 = "jaf_plugin_notes-2.0.0-py3-none-any.whl"


def _file_url(indexes: LocalIndexes, filename: str) -> str:
    return indexes.json.url.replace("/simple/", f"/files/{filename}")


@pytest.mark.parametrize("form", ["json", "html"])
def test_both_page_forms_list_the_same_files(package_index: LocalIndexes, form: str) -> None:
    server = package_index.json if form == "json" else package_index.html
    index = SimpleIndex(server.url)
    assert "jaf-test-textlib" in index.projects()
    files = {f.filename: f for f in index.files("JAF_Plugin.Notes")}
    assert set(files) == {NOTES_1, NOTES_2}
    assert files[NOTES_1].sha256 == package_index.index.sha256(NOTES_1)
    assert files[NOTES_1].has_metadata and files[NOTES_1].wheel
    storage = index.files("jaf-plugin-storage")
    assert [f.has_metadata for f in storage] == [False]
    [source] = index.files("jaf-plugin-sourceonly")
    assert not source.wheel and str(source.version) == "1.0.0"


def test_latest_skips_yanked_files_and_prefers_final_releases() -> None:
    def made(version: str, yanked: bool = False) -> IndexFile:
        from packaging.version import Version

        name = f"jaf_plugin_x-{version}-py3-none-any.whl"
        return IndexFile(name, name, Version(version), True, yanked=yanked)

    files = [made("1.0"), made("2.0", yanked=True), made("3.0rc1")]
    assert [str(f.version) for f in latest(files)] == ["1.0"]
    assert [str(f.version) for f in latest([made("3.0rc1")])] == ["3.0rc1"]
    assert latest([made("1.0", yanked=True)]) == []


def test_ranged_reads_give_the_same_bytes_as_the_file(package_index: LocalIndexes) -> None:
    original = package_index.index.files[NOTES_2][0]
    file, fetched = open_remote(_file_url(package_index, NOTES_2))
    assert fetched.ranged and fetched.size == len(original)
    for offset in (0, 1000, len(original) - 10, 300_000):
        file.seek(offset)
        assert file.read(100) == original[offset : offset + 100]
    whole, fetched = open_remote(package_index.html.url.replace("/simple/", f"/files/{NOTES_2}"))
    assert not fetched.ranged and whole.read() == original


def test_a_wheel_is_read_without_installing_it(tmp_path: Path) -> None:
    good = build_wheel(
        Dist("jaf-plugin-x", "1.0", "An x", plugin="x", permissions='run = ["git"]\n'), tmp_path
    )
    with good.open("rb") as file:
        contents = read_wheel(file, good.name)
    assert (contents.name, contents.version, contents.summary) == ("jaf-plugin-x", "1.0", "An x")
    assert [(p.name, p.permissions) for p in contents.plugins] == [("x", ("run:git",))]

    typo = build_wheel(
        Dist("jaf-plugin-y", "1.0", "", plugin="y", permissions='permisions = ["x"]\n'), tmp_path
    )
    with typo.open("rb") as file:
        [plugin] = read_wheel(file, typo.name).plugins
    assert plugin.manifest is None
    assert plugin.error == (
        f"{typo.name}:jaf_plugin_y/jaf-plugin.toml: permissions.permisions: unknown permission "
        "kind (known: read, write, net, env, run, ffi, observe)"
    )
    library = build_wheel(Dist("jaf-test-lib", "1.0", "no plugin"), tmp_path)
    with library.open("rb") as file:
        assert read_wheel(file, library.name).plugins == ()
    with pytest.raises(WheelError, match=r"not-a-wheel\.whl: not a wheel"):
        read_wheel(io.BytesIO(b"not a zip"), "not-a-wheel.whl")
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(WheelError, match=r"0 \.dist-info folders"):
        read_wheel(empty, "empty.whl")


def test_the_review_checks_the_downloaded_wheel_against_the_hash(
    package_index: LocalIndexes, tmp_path: Path
) -> None:
    url = _file_url(package_index, NOTES_1)
    good = Planned("jaf-plugin-notes", "1.0.0", url, package_index.index.sha256(NOTES_1), True)
    reviewed = fetch(good, tmp_path)
    assert reviewed.sha256 == good.sha256
    assert (
        reviewed.path is not None
        and reviewed.path.read_bytes() == (package_index.index.files[NOTES_1][0])
    )
    assert reviewed.contents is not None
    assert reviewed.contents.plugins[0].permissions[0] == "env:NOTES_TOKEN"

    changed = Planned("jaf-plugin-notes", "1.0.0", url, "0" * 64, True)  # the index said so
    with pytest.raises(ReviewError, match=rf"{NOTES_1} does not match the hash the index gave"):
        fetch(changed, tmp_path)
    again = tmp_path / "again"
    again.mkdir()
    local = fetch(Planned("jaf-plugin-notes", "1.0.0", reviewed.path.as_uri(), None, True), again)
    assert local.sha256 == good.sha256  # no hash given: the file's own is what gets pinned

    other = Planned("jaf-plugin-storage", "1.0.0", url, None, False)  # a file under a false name
    with pytest.raises(ReviewError, match="holds 'jaf-plugin-notes', not 'jaf-plugin-storage'"):
        fetch(other, tmp_path)
    source = Planned("jaf-plugin-s", "1.0", "http://127.0.0.1:1/files/s-1.0.tar.gz", None, True)
    with pytest.raises(ReviewError, match=r"is a source distribution .*--allow-sdist"):
        review([source], tmp_path, allow_sdist=False)
    assert review([source], tmp_path, allow_sdist=True)[0].path is None


def test_what_needs_building_is_found_before_pip_runs(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    wheel = tmp_path / "x-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    given = [
        "jaf-plugin-x>=1",
        str(folder),
        str(wheel),
        "x-1.0.tar.gz",
        "https://example.invalid/x-1.0-py3-none-any.whl",
        "https://example.invalid/x-1.0.zip",
        "x @ https://example.invalid/x-1.0.tar.gz",
        "x @ file:///tmp/x-1.0-py3-none-any.whl",
        "git+https://example.invalid/x.git",
    ]
    assert source_arguments(given) == [
        str(folder),
        "x-1.0.tar.gz",
        "https://example.invalid/x-1.0.zip",
        "x @ https://example.invalid/x-1.0.tar.gz",
        "git+https://example.invalid/x.git",
    ]


def test_installed_wheel_hashes_are_recorded_and_forgotten(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path / "home")
    assert wheel_hashes.load(layout) == {}
    wheel_hashes.record(
        layout,
        [("JAF_Plugin.A", "1.0", "jaf_plugin_a-1.0-py3-none-any.whl", "ab" * 32)],
    )
    wheel_hashes.record(layout, [("lib", "2.0", "lib-2.0-py3-none-any.whl", "cd" * 32)])
    assert wheel_hashes.load(layout)["jaf-plugin-a"] == {
        "name": "JAF_Plugin.A",
        "version": "1.0",
        "filename": "jaf_plugin_a-1.0-py3-none-any.whl",
        "hashes": ["sha256:" + "ab" * 32],
    }
    wheel_hashes.forget(layout, ["jaf-plugin-a"])
    assert list(wheel_hashes.load(layout)) == ["lib"]
    wheel_hashes.path_of(layout).write_text("{not json")
    assert wheel_hashes.load(layout) == {}


def test_search_reads_a_static_index_folder(package_index: LocalIndexes, tmp_path: Path) -> None:
    """A ``file:`` URL: a PEP 503 tree on disk (each folder's ``index.html``), files whole."""
    index = package_index.index
    simple, files = tmp_path / "simple", tmp_path / "files"
    files.mkdir()
    links = []
    for project, filenames in index.projects.items():
        (simple / project).mkdir(parents=True)
        links.append(f'<a href="{project}/">{project}</a>')
        rows = []
        for filename in filenames:
            (files / filename).write_bytes(index.files[filename][0])
            rows.append(f'<a href="../../files/{filename}#sha256={index.sha256(filename)}">x</a>')
        (simple / project / "index.html").write_text("<html>" + "".join(rows) + "</html>")
    (simple / "index.html").write_text("<html>" + "\n".join(links) + "</html>")
    from jafhost.ecosystem.search import search

    found = {f.name: f for f in search(simple.as_uri(), None)}
    assert sorted(found) == ["jaf-plugin-notes", "jaf-plugin-sourceonly", "jaf-plugin-storage"]
    assert found["jaf-plugin-storage"].permissions == ["env:STORAGE_URL"]
    assert found["jaf-plugin-notes"].version == "2.0.0"


def test_startup_files_are_the_members_python_runs_at_every_start() -> None:
    names = [
        "a.pth",
        "./b.pth",
        "pkg/c.pth",
        "pkg/sitecustomize.py",
        "sitecustomize/__init__.py",
        "usercustomize.py",
        "x-1.data/purelib/d.pth",
        "x-1.data/platlib/sitecustomize.py",
        "x-1.data/data/lib/python3.11/site-packages/e.pth",
        "x-1.data/scripts/f.pth",
        "x-1.dist-info/RECORD",
    ]
    assert startup_files(names) == (
        "./b.pth",
        "a.pth",
        "sitecustomize/__init__.py",
        "usercustomize.py",
        "x-1.data/data/lib/python3.11/site-packages/e.pth",
        "x-1.data/platlib/sitecustomize.py",
        "x-1.data/purelib/d.pth",
    )
