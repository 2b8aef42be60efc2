"""The in-process guard follows plugin work into threads it did not start, and checks what
a path really led to once the file is open.

The host runs in the test process, as in an embedding program: ``loop.run_in_executor``
there starts the loop's default executor threads as host code, and a plugin's work
submitted to them later must still run as the plugin.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import Site
from jafhost.host.host import Host
from jafhost.security import guard
from jafhost.security.policy import Policy
from jafhost.types import CallResult

MakeHost = Callable[..., Host]

TOOLS = '''
import asyncio, os, sys, threading
from concurrent.futures import ThreadPoolExecutor

def _read(path):
    with open(path) as f:
        return f.read()

async def in_default_executor(path: str) -> str:
    """Read through the loop's default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, _read, path)

def in_own_pool(path: str) -> str:
    """Read in a pool the plugin starts itself."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_read, path).result()

def race(path: str, own: str, tries: int) -> str:
    """Open ``own/t/../../X`` while ``own/t`` is renamed from a link into a folder and back:
    as the link (to ``own/a/b/c``) the path stays inside ``own``, as the folder it is
    ``path``."""
    deep = os.path.join(own, "a", "b", "c")
    os.makedirs(deep)
    link, folder, turn = (os.path.join(own, name) for name in ("L", "D", "t"))
    os.symlink(deep, link)
    os.mkdir(folder)
    target = os.path.join(turn, "..", "..", os.path.relpath(path, os.path.dirname(own)))
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            for name in (link, folder):
                os.rename(name, turn)
                os.rename(turn, name)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # let the threads take turns often
    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    leaked = ""
    try:
        for _ in range(tries):
            try:
                with open(target) as f:
                    leaked = f.read()
                    break
            except OSError:
                continue
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    return leaked

@hookimpl
def jaf_tools():
    return [in_default_executor, in_own_pool, race]
'''


def call(host: Host, tool: str, **args: object) -> CallResult:
    async def scenario() -> CallResult:
        async with host:
            loop = asyncio.get_running_loop()
            # the embedding program uses the default executor first: its threads are the host's
            assert await loop.run_in_executor(None, threading.current_thread) is not None
            return await host.call(f"threads.{tool}", args)

    return asyncio.run(scenario())


def test_work_a_plugin_submits_to_the_hosts_executor_runs_as_the_plugin(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    site.plugin("threads", code=TOOLS)
    result = call(make_host(), "in_default_executor", path=str(secret))
    assert result.error is not None, result.result
    assert f"read:{secret}" in result.error.message
    assert "TOP-SECRET-KEY" not in str(result.to_json())


def test_work_a_plugin_submits_to_its_own_pool_runs_as_the_plugin(
    site: Site, make_host: MakeHost, secret: Path
) -> None:
    site.plugin("threads", code=TOOLS)
    result = call(make_host(), "in_own_pool", path=str(secret))
    assert result.error is not None, result.result
    assert "TOP-SECRET-KEY" not in str(result.to_json())


def test_the_hosts_work_in_a_pool_a_plugin_started_runs_as_the_host(
    secret: Path, tmp_path: Path
) -> None:
    """The pool's threads are not the plugin's: only the work it submits is."""
    guard.install()
    plugin = guard.identity(Policy.compile("pool-owner", [], tmp_path / "data"))
    pool = ThreadPoolExecutor(1)
    try:
        token = guard.CURRENT_PLUGIN.set(plugin)
        try:  # the plugin's work starts the pool's thread, and is denied
            denied = pool.submit(secret.read_text)
            assert isinstance(denied.exception(), PermissionError)
        finally:
            guard.CURRENT_PLUGIN.reset(token)
        assert pool.submit(secret.read_text).result() == "TOP-SECRET-KEY"
    finally:
        pool.shutdown()


def test_a_swapped_symbolic_link_never_opens_a_file_outside_the_grants(
    site: Site, make_host: MakeHost, secret: Path, tmp_path: Path
) -> None:
    """The check before ``open`` may see a path inside the grants and the kernel open the
    secret a moment later: the file opened is checked again through its descriptor."""
    own = tmp_path / "own"
    own.mkdir()
    site.plugin("threads", code=TOOLS, manifest=f'[permissions]\nwrite = ["{own}"]\n')
    host = make_host()
    host.enable(["threads"], approve=lambda info, new: True)
    result = call(host, "race", path=str(secret), own=str(own), tries=10000)
    assert "TOP-SECRET-KEY" not in str(result.to_json())
    assert result.ok, result.error


LATE_POOL = """
import sys
from pathlib import Path

from jafhost.security import guard
from jafhost.security.policy import Policy

guard.install()
assert "concurrent.futures.thread" not in sys.modules, "imported before the guard"
from concurrent.futures import ThreadPoolExecutor  # first imported after the guard

secret, data = sys.argv[1], Path(sys.argv[2])
pool = ThreadPoolExecutor(1)
pool.submit(int).result()  # the host starts the pool's thread
plugin = guard.identity(Policy.compile("late", [], data))
token = guard.CURRENT_PLUGIN.set(plugin)
try:
    work = pool.submit(Path(secret).read_text)
finally:
    guard.CURRENT_PLUGIN.reset(token)
error = work.exception()
print("denied" if isinstance(error, PermissionError) else f"read: {work.result()}")
pool.shutdown()
"""


def test_a_pool_imported_after_the_guard_runs_the_plugins_work_as_the_plugin(
    secret: Path, tmp_path: Path
) -> None:
    """The one-shot lane arms the guard without importing ``concurrent.futures``: the
    executor is wrapped when a plugin first imports it, so work the plugin submits to a
    thread the host started is still checked as the plugin's."""
    result = subprocess.run(
        [sys.executable, "-c", LATE_POOL, str(secret), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "denied", result.stdout
    assert "TOP-SECRET-KEY" not in result.stdout
