"""Shared fixtures: real plugin distributions on a temporary path, and a host over them.

``site`` is a folder that plays the role of site-packages: ``site.plugin(...)`` writes
a real ``*.dist-info`` (METADATA, entry_points.txt, RECORD) and the plugin's package,
exactly as pip would lay them out, so discovery, importlib.metadata and imports see a
genuinely installed distribution.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from jafhost.host.host import Host
from jafhost.types import CallResult

_COUNTER = itertools.count()


class Site:
    """A temporary site-packages folder to install plugin distributions into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.tag = f"t{os.getpid()}x{next(_COUNTER)}"
        self.default_manifest: str | None = None
        """Used for plugins written without a manifest of their own."""

    def module_for(self, name: str) -> str:
        return f"jp_{name.replace('-', '_')}_{self.tag}"

    def distribution(
        self,
        dist: str,
        version: str = "1.0.0",
        *,
        requires: Iterable[str] = (),
        extras: Iterable[str] = (),
        entry_points: dict[str, str] | None = None,
        summary: str = "",
    ) -> Path:
        """Write a ``*.dist-info`` folder; returns it."""
        folder = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
        if summary:
            lines.append(f"Summary: {summary}")
        lines.append("Author: Test Author")
        lines += [f"Provides-Extra: {e}" for e in extras]
        lines += [f"Requires-Dist: {r}" for r in requires]
        (folder / "METADATA").write_text("\n".join(lines) + "\n\n")
        if entry_points:
            body = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
            (folder / "entry_points.txt").write_text(f"[jaf.plugins]\n{body}")
        (folder / "INSTALLER").write_text("test\n")
        (folder / "RECORD").write_text("")
        return folder

    def plugin(
        self,
        name: str,
        version: str = "1.0.0",
        *,
        dist: str | None = None,
        requires: Iterable[str] = (),
        extras: Iterable[str] = (),
        manifest: str | None = None,
        code: str = "",
        module: str | None = None,
        entry_point: str | None = None,
        summary: str = "",
    ) -> str:
        """Install plugin ``name`` as distribution ``jaf-plugin-<name>``; returns its module."""
        module = module or self.module_for(name)
        package = self.root / module
        package.mkdir(parents=True, exist_ok=True)
        source = "from jafhost import hookimpl\n" + textwrap.dedent(code)
        (package / "__init__.py").write_text(source)
        manifest = manifest if manifest is not None else self.default_manifest
        if manifest is not None:
            (package / "jaf-plugin.toml").write_text(textwrap.dedent(manifest))
        self.distribution(
            dist or f"jaf-plugin-{name}",
            version,
            requires=requires,
            extras=extras,
            entry_points={name: entry_point or module},
            summary=summary,
        )
        return module

    def remove(self, dist: str) -> None:
        for folder in self.root.glob(f"{dist.replace('-', '_')}-*.dist-info"):
            for item in folder.iterdir():
                item.unlink()
            folder.rmdir()


ISOLATION_MODES = [
    "inprocess",
    pytest.param(
        "process",
        marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers"),
    ),
]
"""The isolation modes a test runs in (``@pytest.mark.parametrize("isolation", ...)``):
process isolation where its sandbox applies."""


PROTOCOL_FD = '''
def _protocol_fd() -> int:
    """The descriptor the worker answers on: a pipe open for writing that is neither
    stdout nor stderr (no audit event is raised by fstat or fcntl)."""
    import fcntl, os, stat

    std = {(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2)}
    for fd in range(3, 256):
        try:
            st = os.fstat(fd)
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:
            continue
        if stat.S_ISFIFO(st.st_mode) and mode == os.O_WRONLY and (st.st_dev, st.st_ino) not in std:
            return fd
    raise RuntimeError("no protocol descriptor found")
'''
"""Plugin source: how a process-isolated plugin finds its worker's protocol pipe, as an
attacker would (the security tests that write to it share it)."""


GUARD_OFF = """
from jafhost.security import guard as _guard


def _guard_off() -> None:
    \"\"\"Hostile code switches the audit guard off for this thread (in a worker it is
    no boundary): what must hold then is the kernel side.\"\"\"
    _guard._POLICIES.clear()
    _guard._STATE.busy = True
    _guard.CURRENT_PLUGIN.set(None)
"""
"""Plugin source: ``_guard_off()``, which switches the audit guard off for the calling
thread, so a test sees the kernel's restrictions alone."""


def folder_plugin(root: Path, module: str, name: str, code: str) -> Path:
    """A folder plugin ``name`` (package ``module``, version 0.1.0) under plugin folder
    ``root``, its ``__init__.py`` holding ``code`` after ``from jafhost import hookimpl``."""
    package = root / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from jafhost import hookimpl\n" + textwrap.dedent(code))
    (package / "jaf-plugin.toml").write_text(f'[plugin]\nname = "{name}"\nversion = "0.1.0"\n')
    return package


@pytest.fixture
def local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may leave 127.0.0.1: no proxies, no real OpenAI settings (agent runs and
    model providers use it for every test: ``pytestmark``)."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every grant whose content must never reach a plugin's output."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    path = folder / "id_rsa"
    path.write_text("TOP-SECRET-KEY")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


INPROCESS_CONFIG = '[host]\nisolation = "inprocess"\n'
"""``config.toml`` text that runs every plugin in process (the default is a worker)."""

HI_PLUGIN = '''
def hi() -> str:
    """Say hi."""
    return "hi"


@hookimpl
def jaf_tools():
    return [hi]
'''
"""Plugin code offering one tool, ``hi``, that says hi (what a test appends to code
that does something at import, or uses as a plugin that simply works)."""


@pytest.fixture
def inprocess(home: Path) -> Path:
    """A home whose ``config.toml`` runs every plugin in process, for tests about
    in-process behaviour (module state shared with the test, variables the worker's
    environment filter drops, the guard alone); returns the file. A test that writes
    its own ``config.toml`` starts it with ``INPROCESS_CONFIG``."""
    path = home / "config.toml"
    path.write_text(INPROCESS_CONFIG)
    return path


@pytest.fixture
def make_host(site: Site, home: Path):  # type: ignore[no-untyped-def]
    """Build a host over ``site`` only, with a fresh home; keyword args go to ``Host``."""

    def build(approve: bool = False, **kwargs: object) -> Host:
        kwargs.setdefault("hook_timeout", 2.0)
        host = Host(home, paths=[str(site.root)], **kwargs)  # type: ignore[arg-type]
        if approve:
            approve_all(host)
        return host

    return build


MARKER_MANIFEST = '[permissions]\nenv = ["JAF_MARKER_DIR"]\n'
"""A manifest asking only for ``JAF_MARKER_DIR``: where a plugin's code leaves marker
files (its own data folder, writable under any grant), for ``record_once``."""

RecordOnce = Callable[..., tuple[Path, CallResult]]


@pytest.fixture
def record_once(make_host, monkeypatch: pytest.MonkeyPatch) -> RecordOnce:  # type: ignore[no-untyped-def]
    """``record_once(name, isolation, tool, arguments)``: plugin ``name`` approved and
    enabled with ``isolation``, ``JAF_MARKER_DIR`` set to its data folder, and ``tool``
    called once by a first host (which writes the activation record, so the next host
    offers the plugin idle); the data folder and that call's result."""

    def record(
        name: str, isolation: str, tool: str, arguments: dict[str, object] | None = None
    ) -> tuple[Path, CallResult]:
        first = make_host(approve=True)
        first.enable([name], isolation=isolation)
        data: Path = first.layout.data_dir(name)
        data.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("JAF_MARKER_DIR", str(data))

        async def call() -> CallResult:
            async with first:
                result: CallResult = await first.call(tool, arguments or {})
                return result

        return data, asyncio.run(call())

    return record


def approve_all(host: Host) -> None:
    """Approve what every plugin waiting for approval requests (as ``enable --yes``)."""
    waiting = [v.name for v in host.plugins() if v.status == "needs-approval"]
    if waiting:
        host.enable(waiting, approve=lambda info, new: True, dependencies=False)


def run_doc_blocks(doc: Path, minimum: int) -> None:
    """Run the ```python blocks of ``doc`` in order, in one namespace, as a reader would
    (at least ``minimum`` of them); a failing block is an error naming it."""
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    assert len(blocks) >= minimum
    namespace: dict[str, object] = {"__name__": doc.stem + "_doc"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{doc.name} block {number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message says which block
            raise AssertionError(f"block {number} of {doc.name} failed: {exc!r}") from exc


def run_cli(
    *args: str,
    site: Site | None = None,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``jafhost`` CLI in a new process, with ``site`` on its path (and
    ``cwd``, the working folder, first: ``python -m``)."""
    environment = dict(os.environ)
    environment.pop("JAFHOST_DEBUG", None)
    if site is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(site.root), *filter(None, [environment.get("PYTHONPATH")])]
        )
    if home is not None:
        environment["JAFHOST_HOME"] = str(home)
    environment["COLUMNS"] = "200"
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "jafhost", *args],
        capture_output=True,
        text=True,
        env=environment,
        input=input,
        timeout=timeout,
        stdin=None if input is not None else subprocess.DEVNULL,
        cwd=cwd,
    )


def cli_call(home: Path, site: Site, isolation: str, plugin: str, tool: str, **args: Any) -> Any:
    """``jafhost enable --yes`` then ``jafhost call`` in a new process (so the plugin
    switching the guard off never touches the test's own process); the printed result."""
    enabled = run_cli("enable", plugin, "--yes", "--isolation", isolation, site=site, home=home)
    assert enabled.returncode == 0, enabled.stderr
    options = [f"{key}={json.dumps(value)}" for key, value in args.items()]
    ran = run_cli("call", tool, *(x for o in options for x in ("-a", o)), site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.fixture(scope="session")
def package_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real package index on 127.0.0.1 (``tests/local_index.py``): ``.json`` answers in
    PEP 691 JSON and honours byte ranges, ``.html`` answers in PEP 503 HTML and sends
    files whole. Both stop at the end of the session."""
    from local_index import IndexServer, LocalIndexes, build_index

    built = build_index(tmp_path_factory.mktemp("index"))
    indexes = LocalIndexes(built, IndexServer(built), IndexServer(built, json=False, ranges=False))
    yield indexes
    indexes.stop()
