"""``RECORD`` read without ``csv`` where it can be (``file_stamps.record_rows``, for
plugins' files and jafhost's own): the same rows as ``csv.reader``."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from jafhost.discovery.integrity import CHANGED, Integrity, read_entries
from jafhost.file_stamps import record_rows

RECORDS = [
    "pkg/__init__.py,sha256=abc,12\npkg-1.0.dist-info/RECORD,,\n",
    "a.py,sha256=x,1\r\nb.py,sha256=y,2\r\n",
    "\n\na.py,sha256=x,1\n\n",
    '"odd, name.py",sha256=x,3\nplain.py,sha256=y,4\n',
    'q.py,"sha256=x",5\n',
    "spaces in name.py , sha256=x ,6\n",
    "trailing,comma,\n,\n,,,\n",
    "",
    "one-field\n",
]


@pytest.mark.parametrize("text", RECORDS)
def test_rows_are_csv_rows(text: str) -> None:
    assert record_rows(text) == list(csv.reader(text.splitlines()))


def test_a_path_with_a_nul_byte_is_a_changed_record(tmp_path: Path) -> None:
    dist_info = tmp_path / "p-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "RECORD").write_text("a.py,sha256=x,1\nb\0.py,sha256=y,2\n")
    found = read_entries(str(dist_info))
    assert isinstance(found, Integrity) and found.status == CHANGED, found
    assert "NUL" in found.detail


def test_reading_a_plain_record_imports_no_csv() -> None:
    code = (
        "import sys\n"
        "from jafhost.file_stamps import record_rows\n"
        "record_rows('a.py,sha256=x,1\\n')\n"
        "print('csv' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
