"""An agent's policy narrows a plugin's grants for that agent's calls, in both modes.

A curious ``files`` plugin is granted ``read:DIR``, ``net:127.0.0.1:*``, ``run:touch`` (and
``write`` to a folder for what it creates).
While an agent whose policy allows it only ``read:DIR/a`` (or one port, or no program)
calls its tools, it reads inside ``DIR/a`` and nothing else of ``DIR``, reaches only that
port and starts nothing; the same tools called outside the agent (before, after, or at
the same moment) keep the full grants. In process mode the narrowed calls run in a worker
started with the narrowed grants, so the kernel holds them too: with the audit guard
switched off inside the worker, ``DIR/b`` still cannot be read.

Ground truth: the file contents in the results (or not), the connections a listener on
127.0.0.1 accepted, a marker file created or not.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import jafhost.security.sandbox as sandbox_package
from conftest import GUARD_OFF, ISOLATION_MODES, Site
from jafhost.host.host import Host
from jafhost.runtime.call_origin import CALL_ORIGIN, CallOrigin
from jafhost.types import AgentLimits, CallResult

MakeHost = Callable[..., Host]
FEATURES = sandbox_package.probe()

FILES = (
    GUARD_OFF
    + '''
import asyncio
import os
import os
import socket
import subprocess
import threading
import time


def read(path: str) -> str:
    """Read a file."""
    with open(path) as f:
        return f.read()


async def read_async(path: str) -> str:
    """Read a file from a coroutine."""
    await asyncio.sleep(0)
    with open(path) as f:
        return f.read()


def read_in_thread(path: str) -> str:
    """Read a file in a thread of its own."""
    found = []

    def work() -> None:
        try:
            with open(path) as f:
                found.append(f.read())
        except Exception as exc:
            found.append("refused: " + type(exc).__name__)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return found[0]


def read_later(path: str, delay: float) -> str:
    """Wait, then read a file."""
    time.sleep(delay)
    with open(path) as f:
        return f.read()


def read_raw(path: str) -> str:
    """Read a file with the audit guard switched off: only the kernel can stop it."""
    _guard_off()
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return "refused: " + type(exc).__name__


def knock(port: int) -> str:
    """Connect to 127.0.0.1 at a port, knock and return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"knock")
        return conn.recv(16).decode()


def touch(marker: str) -> str:
    """Create a file with the touch program."""
    subprocess.run(["touch", marker], check=True)
    return "touched"


@hookimpl
def jaf_tools():
    return [read, read_async, read_in_thread, read_later, read_raw, knock, touch]
'''
)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """``DIR`` (granted) with ``a/inside.txt`` (allowed by the policy) and
    ``b/outside.txt`` (granted, but not allowed by it)."""
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "inside.txt").write_text("INSIDE-A")
    (root / "b" / "outside.txt").write_text("OUTSIDE-B-SECRET")
    return root, root / "a"


def files_host(site: Site, make_host: MakeHost, root: Path, isolation: str) -> Host:
    out = root.parent / "out"  # where its program may create files
    out.mkdir(exist_ok=True)
    manifest = (
        f'[permissions]\nread = ["{root}"]\nwrite = ["{out}"]\nnet = ["127.0.0.1:*"]\n'
        'run = ["touch"]\n'
    )
    site.plugin("files", manifest=manifest, code=FILES)
    host = make_host()
    host.enable(["files"], approve=lambda info, new: True, isolation=isolation)
    return host


def limits(**kinds: tuple[str, ...]) -> Mapping[str, AgentLimits]:
    return {"files": AgentLimits(agent="support", plugin="files", kinds=kinds)}


async def as_agent(
    host: Host, tool: str, arguments: dict[str, Any], policy: Mapping[str, AgentLimits]
) -> CallResult:
    """The call as an agent run makes it: ``CALL_ORIGIN`` names the agent's limits."""
    token = CALL_ORIGIN.set(CallOrigin(caller="agent", agent="support", limits=policy))
    try:
        return await host.call(tool, arguments)
    finally:
        CALL_ORIGIN.reset(token)


def assert_denied_by_policy(result: CallResult, path: Path, allowed: str) -> None:
    assert not result.ok and result.error is not None, result
    assert result.error.code == "permission_denied", result.error
    assert result.error.permission == f"read:{path}"
    assert "OUTSIDE-B-SECRET" not in repr(result)
    assert "agent support's policy for plugin files" in result.error.message
    assert f"allows read:{allowed}" in result.error.message
    assert "jafhost grant" not in result.error.message


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("tool", ["files.read", "files.read_async", "files.read_in_thread"])
def test_a_narrowed_read_stays_inside_the_policy(
    isolation: str,
    tool: str,
    site: Site,
    make_host: MakeHost,
    folders: tuple[Path, Path],
) -> None:
    root, allowed = folders
    host = files_host(site, make_host, root, isolation)
    inside, outside = str(allowed / "inside.txt"), str(root / "b" / "outside.txt")
    policy = limits(read=(f"read:{allowed}",))

    async def scenario() -> None:
        async with host:
            ok = await as_agent(host, tool, {"path": inside}, policy)
            assert ok.ok and ok.result == "INSIDE-A", ok
            denied = await as_agent(host, tool, {"path": outside}, policy)
            if tool == "files.read_in_thread":  # the thread's denial, caught by the tool
                assert denied.ok and denied.result == "refused: PermissionDenied", denied
            else:
                assert_denied_by_policy(denied, root / "b" / "outside.txt", str(allowed))
            full = await host.call(tool, {"path": outside})
            assert full.ok and full.result == "OUTSIDE-B-SECRET", full

    asyncio.run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_concurrent_call_outside_the_agent_keeps_the_full_grants(
    isolation: str, site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    root, allowed = folders
    host = files_host(site, make_host, root, isolation)
    outside = str(root / "b" / "outside.txt")
    policy = limits(read=(str(allowed),))  # a bare value, as in [permissions]

    async def scenario() -> None:
        async with host:
            narrowed, full = await asyncio.gather(
                as_agent(host, "files.read_later", {"path": outside, "delay": 0.3}, policy),
                host.call("files.read_later", {"path": outside, "delay": 0.3}),
            )
            assert_denied_by_policy(narrowed, root / "b" / "outside.txt", str(allowed))
            assert full.ok and full.result == "OUTSIDE-B-SECRET", full

    asyncio.run(scenario())


class Listener:
    """A TCP listener on 127.0.0.1 that counts what reaches it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.hits.append(conn.recv(16))
                conn.sendall(b"seen")  # after the hit is counted

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    pair = Listener(), Listener()
    yield pair
    for listener in pair:
        listener.close()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_narrowed_net_grant_reaches_only_the_allowed_port(
    isolation: str,
    site: Site,
    make_host: MakeHost,
    folders: tuple[Path, Path],
    listeners: tuple[Listener, Listener],
) -> None:
    root, _ = folders
    allowed, other = listeners
    host = files_host(site, make_host, root, isolation)
    policy = limits(net=(f"net:127.0.0.1:{allowed.port}",))

    async def scenario() -> None:
        async with host:
            ok = await as_agent(host, "files.knock", {"port": allowed.port}, policy)
            assert ok.ok and ok.result == "seen", ok
            denied = await as_agent(host, "files.knock", {"port": other.port}, policy)
            assert denied.error is not None and denied.error.code == "permission_denied"
            assert denied.error.permission == f"net:127.0.0.1:{other.port}"
            assert "agent support's policy" in denied.error.message

    asyncio.run(scenario())
    assert allowed.hits == [b"knock"]
    assert other.hits == []


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_kind_narrowed_to_nothing_starts_no_program(
    isolation: str, site: Site, make_host: MakeHost, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = folders
    host = files_host(site, make_host, root, isolation)
    marker, control = tmp_path / "out" / "MARKER", tmp_path / "out" / "CONTROL"

    async def scenario() -> None:
        async with host:
            denied = await as_agent(host, "files.touch", {"marker": str(marker)}, limits(run=()))
            assert denied.error is not None and denied.error.code == "permission_denied"
            assert denied.error.permission == "run:touch"
            assert "which allows no run" in denied.error.message
            ok = await host.call("files.touch", {"marker": str(control)})
            assert ok.ok, ok

    asyncio.run(scenario())
    assert not marker.exists()
    assert control.exists()


@pytest.mark.skipif(not FEATURES.landlock_abi, reason="Landlock not available")
def test_a_narrowed_worker_is_held_by_the_kernel_without_its_guard(
    site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    root, allowed = folders
    host = files_host(site, make_host, root, "process")
    outside = str(root / "b" / "outside.txt")
    policy = limits(read=(f"read:{allowed}",))

    async def scenario() -> None:
        async with host:
            narrowed = await as_agent(host, "files.read_raw", {"path": outside}, policy)
            assert narrowed.ok and narrowed.result == "refused: PermissionError", narrowed
            inside = await as_agent(
                host, "files.read_raw", {"path": str(allowed / "inside.txt")}, policy
            )
            assert inside.ok and inside.result == "INSIDE-A", inside
            full = await host.call("files.read_raw", {"path": outside})
            assert full.ok and full.result == "OUTSIDE-B-SECRET", full

    asyncio.run(scenario())


PEEKER = """
def peek(path: str) -> str:
    \"\"\"Look at a file (its middleware does the reading).\"\"\"
    return "the tool ran"


@hookimpl(wrapper=True)
def jaf_tool_call(call):
    result = yield
    with open(call.arguments["path"]) as f:
        return f.read()


@hookimpl
def jaf_tools():
    return [peek]
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugins_middleware_is_narrowed_in_the_agents_calls(
    isolation: str, site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    root, allowed = folders
    site.plugin("peeker", manifest=f'[permissions]\nread = ["{root}"]\n', code=PEEKER)
    host = make_host()
    host.enable(["peeker"], approve=lambda info, new: True, isolation=isolation)
    outside = str(root / "b" / "outside.txt")
    policy = {
        "peeker": AgentLimits(agent="support", plugin="peeker", kinds={"read": (str(allowed),)})
    }

    async def scenario() -> None:
        async with host:
            inside = await as_agent(
                host, "peeker.peek", {"path": str(allowed / "inside.txt")}, policy
            )
            assert inside.ok and inside.result == "INSIDE-A", inside
            denied = await as_agent(host, "peeker.peek", {"path": outside}, policy)
            assert denied.error is not None and denied.error.code == "permission_denied", denied
            assert "OUTSIDE-B-SECRET" not in repr(denied)
            assert "agent support's policy for plugin peeker" in denied.error.message
            full = await host.call("peeker.peek", {"path": outside})
            assert full.ok and full.result == "OUTSIDE-B-SECRET", full

    asyncio.run(scenario())


def test_narrowed_workers_end_with_their_plugin(
    site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    """The workers started for an agent's calls are the plugin's: stopping it (here, the
    host closing) ends them too, and they were other processes than its own workers."""
    from jafhost.runtime.isolation import launch

    root, allowed = folders
    host = files_host(site, make_host, root, "process")
    inside = str(allowed / "inside.txt")
    policy = limits(read=(f"read:{allowed}",))
    pids: dict[str, set[int]] = {}

    async def scenario() -> None:
        async with host:
            assert (await as_agent(host, "files.read", {"path": inside}, policy)).ok
            assert (await host.call("files.read", {"path": inside})).ok
            loaded = host.runtime.plugins.get("files")
            assert loaded is not None
            pool = launch.pool_of(loaded)
            assert pool is not None
            own = {w.pid for w in pool.slots if w.pid is not None}
            narrowed = {w.pid for p in pool._all()[1:] for w in p.slots if w.pid is not None}
            pids.update(own=own, narrowed=narrowed)
            listed = host.stats().plugin("files").workers  # both kinds, told apart
            grants.update(w.narrowed for w in listed)

    grants: set[tuple[str, ...] | None] = set()
    asyncio.run(scenario())
    assert pids["narrowed"] and not pids["narrowed"] & pids["own"]
    (narrowed_grants,) = grants - {None}
    assert None in grants and f"read:{allowed}" in narrowed_grants, grants
    for pid in pids["narrowed"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_start_that_needs_more_than_the_policy_fails_only_the_agents_calls(
    site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    """In process mode a narrowed worker starts the plugin again with the narrowed
    grants: a ``jaf_activate`` reading outside them fails the agent's calls, naming the
    policy, and never makes the plugin broken for its other callers."""
    root, allowed = folders
    code = f"""
@hookimpl
def jaf_activate(ctx):
    open({str(root / "b" / "outside.txt")!r}).read()

def hello() -> str:
    \"\"\"Say hello.\"\"\"
    return "hello"

@hookimpl
def jaf_tools():
    return [hello]
"""
    site.plugin("files", manifest=f'[permissions]\nread = ["{root}"]\n', code=code)
    host = make_host()
    host.enable(["files"], approve=lambda info, new: True, isolation="process")
    policy = limits(read=(str(allowed),))

    async def scenario() -> None:
        async with host:
            failed = await as_agent(host, "files.hello", {}, policy)
            assert failed.error is not None, failed
            assert "agent support's policy for plugin files" in failed.error.message
            assert "OUTSIDE-B-SECRET" not in repr(failed)
            ok = await host.call("files.hello", {})
            assert ok.ok and ok.result == "hello", ok
            loaded = host.runtime.plugins.get("files")
            assert loaded is not None and loaded.status == "active"

    asyncio.run(scenario())


ANNOUNCER = """
from jafhost import PluginContext


def announce(path: str, ctx: PluginContext) -> str:
    \"\"\"Ask this plugin's own handler to copy a file.\"\"\"
    ctx.emit("files.look", {"path": path})
    return "announced"


def on_look(event, ctx: PluginContext) -> None:
    with open(event.data["path"]) as f:
        text = f.read()
    with open(OUT + "/seen.txt", "w") as f:
        f.write(text)


@hookimpl
def jaf_tools():
    return [announce]


@hookimpl
def jaf_event_handlers():
    return {"files.look": on_look}
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_event_handlers_keep_their_plugins_own_grants(
    isolation: str, site: Site, make_host: MakeHost, folders: tuple[Path, Path]
) -> None:
    """As the contract says: the agent's policy narrows the tool's call, not the event
    handlers its events reach (they run as their plugin, with its grants)."""
    root, allowed = folders
    out = root.parent / "out"
    out.mkdir()
    manifest = f'[permissions]\nread = ["{root}"]\nwrite = ["{out}"]\n'
    site.plugin("files", manifest=manifest, code=f"OUT = {str(out)!r}\n" + ANNOUNCER)
    host = make_host()
    host.enable(["files"], approve=lambda info, new: True, isolation=isolation)
    policy = limits(read=(str(allowed),))
    seen = out / "seen.txt"

    async def scenario() -> None:
        async with host:
            path = str(root / "b" / "outside.txt")
            result = await as_agent(host, "files.announce", {"path": path}, policy)
            assert result.ok, result
            for _ in range(200):  # a worker's event is delivered after the call returns
                if seen.exists():
                    break
                await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert seen.read_text() == "OUTSIDE-B-SECRET"


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_narrowed_call_stays_under_the_operator_ceiling(
    isolation: str,
    site: Site,
    make_host: MakeHost,
    folders: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's policy naming the whole granted folder must not lift a deny rule the
    operator put inside it: the narrowed identity and worker keep the ceiling."""
    root, _allowed = folders
    files_host(site, make_host, root, isolation)
    secret = root / "b" / "outside.txt"
    policy_file = tmp_path / "admin-policy.toml"
    policy_file.write_text(f'[policy]\ndeny = ["read:{root / "b"}"]\n')
    monkeypatch.setenv("JAFHOST_POLICY", str(policy_file))
    host = make_host()
    policy = limits(read=(f"read:{root}",))

    async def scenario() -> None:
        async with host:
            for tool in ("files.read", "files.read_async"):
                denied = await as_agent(host, tool, {"path": str(secret)}, policy)
                assert not denied.ok and denied.error is not None, denied
                assert denied.error.code == "permission_denied", denied.error
                assert "OUTSIDE-B-SECRET" not in repr(denied)
                assert f"read:{root / 'b'}" in denied.error.message
            plain = await host.call("files.read", {"path": str(secret)})
            assert not plain.ok and "OUTSIDE-B-SECRET" not in repr(plain), plain

    asyncio.run(scenario())
