"""A distribution shipping ``.pth`` files is flagged in ``list`` and ``info``.

Python runs the ``import`` lines of every ``.pth`` file at the top of site-packages at
every start, before any guard or sandbox: the user must see it. The files are found
from the distribution's ``RECORD`` and read as data (the temporary site folder here is
on ``PYTHONPATH``, which Python never reads ``.pth`` files from, so nothing runs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import Site, run_cli
from jafhost.discovery.pth import describe, record_pth_names


def _ship(site: Site, name: str, files: dict[str, str]) -> None:
    """Install plugin ``name`` with ``files`` (path under site-packages: content) in RECORD."""
    site.plugin(name)
    [dist_info] = site.root.glob(f"jaf_plugin_{name}-*.dist-info")
    rows = []
    for path, content in files.items():
        target = site.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        rows.append(f"{path},,\n")
    (dist_info / "RECORD").write_text("".join(rows) + f"{dist_info.name}/METADATA,,\n")


def test_list_and_info_flag_a_pth_file_that_runs_code(site: Site, home: Path) -> None:
    _ship(site, "sneaky", {"sneaky_boot.pth": "/nowhere\nimport os; os.getpid()\n"})
    _ship(site, "editable", {"__editable__.jaf_plugin_editable-1.0.0.pth": "/src/editable\n"})
    _ship(site, "paths", {"paths.pth": "/opt/paths\n", "pkg/inner.pth": "import os\n"})
    site.plugin("plain")

    views = {
        v["name"]: v for v in json.loads(run_cli("list", "--json", site=site, home=home).stdout)
    }
    assert {name: v["pth"] for name, v in views.items()} == {
        "sneaky": "runs-code",
        "editable": "editable",
        "paths": "path-entries",  # pkg/inner.pth is not at the top: Python never reads it
        "plain": None,
    }

    info = json.loads(run_cli("info", "sneaky", "--json", site=site, home=home).stdout)
    [pth] = info["pth_files"]
    assert pth["path"] == str(site.root / "sneaky_boot.pth") and pth["kind"] == "runs-code"
    assert "line 2: import os; os.getpid()" in pth["note"]
    plain = json.loads(run_cli("info", "plain", "--json", site=site, home=home).stdout)
    assert plain["pth_files"] == []

    table = run_cli("list", site=site, home=home).stdout
    assert ".pth: runs code at every Python start" in table
    assert ".pth: editable path entry" in table
    text = run_cli("info", "sneaky", site=site, home=home).stdout
    assert "sneaky_boot.pth" in text and "runs code at every Python start" in text


def test_a_pth_file_that_cannot_be_read_is_flagged_without_hanging(site: Site, home: Path) -> None:
    _ship(site, "fifo", {})
    [dist_info] = site.root.glob("jaf_plugin_fifo-*.dist-info")
    os.mkfifo(site.root / "boot.pth")
    (dist_info / "RECORD").write_text("boot.pth,,\n")
    [view] = json.loads(run_cli("list", "--json", site=site, home=home, timeout=60).stdout)
    assert view["pth"] == "unreadable"
    info = json.loads(run_cli("info", "fifo", "--json", site=site, home=home, timeout=60).stdout)
    assert "not a regular file" in info["pth_files"][0]["note"]


def test_only_top_level_pth_files_of_record_count(tmp_path: Path) -> None:
    record = 'a.pth,sha256=x,1\n"b,c.pth",,\nsub/d.pth,,\n..\\e.pth,,\nf.py,,\n\n'
    assert record_pth_names(record) == ["a.pth", "b,c.pth"]
    path = tmp_path / "x.pth"
    path.write_text("import\tsys\n")
    assert describe(str(path)).kind == "runs-code"
    path.write_text("# import nothing\n  import sys\n/path\n")
    assert describe(str(path)).kind == "path-entries"  # site.py runs only lines starting so
