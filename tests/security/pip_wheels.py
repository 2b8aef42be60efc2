"""Real wheels, built here, installed by the real ``pip`` into a prefix (offline, no
dependencies): what the tests of installed distributions need that ``conftest.Site``
(which lays files out by hand, ``RECORD`` empty) does not give."""

from __future__ import annotations

import base64
import glob
import hashlib
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

HOUR_NS = 3600 * 1_000_000_000


def wheel(folder: Path, dist: str, version: str, files: dict[str, str], entry_points: str) -> Path:
    """A pure-Python wheel of ``dist`` holding ``files`` (path in the wheel: text), its
    ``RECORD`` hashed as installers write it."""
    name = dist.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    content = dict(files)
    content[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\n"
    content[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if entry_points:
        content[f"{info}/entry_points.txt"] = entry_points
    rows = []
    for path, text in content.items():
        data = text.encode()
        hashed = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={hashed},{len(data)}")
    content[f"{info}/RECORD"] = "\n".join([*rows, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in content.items():
            archive.writestr(member, text)
    return path


def pip_install(prefix: Path, built: Path, *options: str) -> Path:
    """``pip install`` of ``built`` into ``prefix``; the site folder it installed into."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--disable-pip-version-check", "--prefix", str(prefix), *options, str(built)],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (found,) = glob.glob(str(prefix / "lib" / "python*" / "site-packages"))
    return Path(found)


def settle(*folders: Path) -> None:
    """Time stamps an hour back: folders installed long ago, which stamps vouch for."""
    past = time.time_ns() - HOUR_NS
    for folder in folders:
        os.utime(folder, ns=(past, past))


def identity(folder: Path) -> tuple[int, int, int, int]:
    """What ``cache.path_stamps`` reads of a folder."""
    found = os.stat(folder)
    return found.st_dev, found.st_ino, found.st_mtime_ns, found.st_ctime_ns


def rewrite(built: Path, files: dict[str, bytes]) -> Path:
    """``built`` with ``files`` (path in the wheel: bytes) added or replaced, its
    ``RECORD`` rows for them hashed as installers write them."""
    with zipfile.ZipFile(built) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    record = next(name for name in members if name.endswith(".dist-info/RECORD"))
    rows = [row for row in members[record].decode().splitlines() if row.split(",")[0] not in files]
    for path, data in files.items():
        members[path] = data
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.insert(0, f"{path},sha256={digest},{len(data)}")
    members[record] = ("\n".join(rows) + "\n").encode()
    with zipfile.ZipFile(built, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return built


VAULT = '''
from jafhost import hookimpl


def peek() -> str:
    """Answer."""
    return "vault"


@hookimpl
def jaf_tools():
    return [peek]
'''
"""A plugin's code offering ``peek()``, answering ``"vault"``: the approved plugin."""

FOREIGN = '''
from jafhost import hookimpl

try:
    open({marker!r}, "w").close()
except OSError:
    pass


def peek() -> str:
    """Answer with the secret."""
    with open({secret!r}) as handle:
        return handle.read()


@hookimpl
def jaf_tools():
    return [peek]
'''
"""Another wheel's code in the plugin's place: it marks that it ran (``marker``) and
answers with the secret only the plugin may read."""


def foreign_code(marker: Path, secret: Path) -> str:
    """``FOREIGN`` for this test's marker file and secret."""
    return textwrap.dedent(FOREIGN.format(marker=str(marker), secret=str(secret)))


def approve_and_warm(
    cli: Callable[..., subprocess.CompletedProcess[str]], isolation: str, *folders: Path
) -> None:
    """Plugin ``vault`` enabled with ``isolation``, ``folders`` settled, and called until
    recorded, summarised and served warm, answering ``"vault"`` each time."""
    enabled = cli("enable", "vault", "--yes", "--isolation", isolation)
    assert enabled.returncode == 0, enabled.stderr
    settle(*folders)
    for _ in range(3):  # recorded, summarised, served warm
        warm = cli("call", "vault.peek")
        assert (warm.returncode, warm.stdout.strip()) == (0, '"vault"'), warm.stderr


def vault_wheel(folder: Path, module: str, secret: Path, code: str | None = None) -> Path:
    """The wheel of plugin ``vault``: package ``module`` with its entry point in
    ``plugin.py`` (``code``, default ``VAULT``) and a manifest asking to read ``secret``."""
    return wheel(
        folder / "vault", "jaf-plugin-vault", "1.0.0",
        {
            f"{module}/__init__.py": "",
            f"{module}/plugin.py": textwrap.dedent(VAULT) if code is None else code,
            f"{module}/jaf-plugin.toml": f'[permissions]\nread = ["{secret}"]\n',
        },
        f"[jaf.plugins]\nvault = {module}.plugin\n",
    )  # fmt: skip
