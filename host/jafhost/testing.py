"""pytest fixtures for plugin authors (registered through the ``pytest11`` entry point).

A test gets a real, isolated host: a temporary ``JAFHOST_HOME``, only the plugins it
names (installed distributions, discovered as users' hosts discover them), the grants
and isolation it chooses, and synchronous helpers to call tools, emit events, run an
agent with the scripted model provider and check that an action is denied::

    def test_add(jafhost_factory):
        host = jafhost_factory("notes")                 # grants what notes requests
        note = host.call_ok("notes.add", {"title": "t", "body": "b"})
        assert note["id"] == 1
        host.assert_denied("notes.read_file", {"path": "/etc/shadow"})

A test that looks at a plugin from the inside can take the function it registered for
a hook with ``hook_implementation(host, "notes", "jaf_tools")``.

Only ``pytest`` is imported when pytest starts; the host loads with the first fixture.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jafhost.agents.run import AgentRun
    from jafhost.host.host import Host
    from jafhost.host.sync import SyncHost
    from jafhost.types import CallError

GrantSpec = str | Mapping[str, list[str]] | None
"""``"requested"``: approve what each plugin asks for; a mapping: exactly these grants
(what was requested is approved, then narrowed to the list); None: approve nothing."""


def _test_host_class() -> type[SyncHost]:
    from jafhost.host.sync import SyncHost

    class PluginTestHost(SyncHost):
        """A ``SyncHost`` with assertions for tests."""

        def call_ok(self, tool: str, arguments: Any = None, **options: Any) -> Any:
            """The tool's result; an ``AssertionError`` naming the error if it failed."""
            result = self.call(tool, arguments, **options)
            if not result.ok:
                assert result.error is not None
                raise AssertionError(f"{tool} failed ({result.error.code}): {result.error.message}")
            return result.result

        def assert_denied(
            self, tool: str, arguments: Any = None, *, permission: str | None = None, **options: Any
        ) -> CallError:
            """Assert the call is refused with ``permission_denied`` (for ``permission``,
            a canonical string or its prefix, when given); returns the error."""
            result = self.call(tool, arguments, **options)
            if result.ok:
                raise AssertionError(f"{tool} was allowed; it returned {result.result!r}")
            assert result.error is not None
            if result.error.code != "permission_denied":
                raise AssertionError(
                    f"{tool} failed with {result.error.code}, not "
                    f"permission_denied: {result.error.message}"
                )
            if permission is not None and not (result.error.permission or "").startswith(
                permission
            ):
                raise AssertionError(
                    f"{tool} was denied {result.error.permission!r}, expected {permission!r}"
                )
            return result.error

        def run_scripted(
            self, agent: str, message: str, turns: list[dict[str, Any]], **options: Any
        ) -> AgentRun:
            """Run ``agent`` with the scripted provider replaying ``turns`` (model turns:
            ``{"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}``)."""
            script = self.host.layout.home / f"script-{agent.replace('.', '_')}.jsonl"
            script.write_text("".join(json.dumps(turn) + "\n" for turn in turns))
            return self.run_agent(agent, message, model=f"scripted:{script}", **options)

    return PluginTestHost


def make_test_host(
    home: Path,
    *plugins: str,
    grants: GrantSpec = "requested",
    isolation: str | None = None,
    config: Mapping[str, Any] | None = None,
    paths: list[str] | None = None,
    activate: bool = True,
    hook_timeout: float | None = None,
) -> Any:
    """Build (and by default activate) a test host over only ``plugins`` (and what they
    require); see the module docstring. Close it with ``.close()``."""
    import tomli_w

    from jafhost.host.host import Host

    home.mkdir(parents=True, exist_ok=True)
    if config:
        (home / "config.toml").write_text(tomli_w.dumps(dict(config)))
    host = Host(home, paths=paths, only=None, hook_timeout=hook_timeout)
    names = list(plugins)
    if names:
        wanted = set(names)
        for name in names:
            entry = host.resolution().get(name)
            if entry is None:
                known = ", ".join(sorted(v.name for v in host.plugins()))
                raise LookupError(f"plugin {name!r} is not installed (installed: {known})")
            wanted.update(entry.requires_plugins())
        host = Host(home, paths=paths, only=sorted(wanted), hook_timeout=hook_timeout)
    if grants is not None:
        approve_all = lambda info, new: True  # noqa: E731
        host.enable(
            names or [v.name for v in host.plugins() if v.status != "invalid"],
            approve=approve_all,
            isolation=isolation,
        )
        if isinstance(grants, Mapping):
            for name, allowed in grants.items():
                view = host.plugin(name)
                for permission in view.granted:
                    host.revoke(name, permission)
                for permission in allowed:
                    host.grant(name, permission)
    elif isolation is not None:
        host.enable(names, approve=None, isolation=isolation)
    test_host = _test_host_class()(host)
    if activate:  # every plugin under test started, recorded or not (not left idle)
        test_host.run(test_host.host.activate_all(everything=True))
    return test_host


def hook_implementation(host: Host | SyncHost, plugin: str, hook: str) -> Callable[..., Any] | None:
    """The function ``plugin`` (active in ``host``, in process) registered for ``hook``
    (``"jaf_tools"``...), or None when it does not implement it.

    Calling it runs the plugin's code directly: outside the guard, with no time limit
    and without the arguments the host would pass, so a test sees what the plugin
    returns, exactly.
    """
    from jafhost.host.sync import SyncHost
    from jafhost.runtime.plugin_manager import PluginHooks

    inner = host.host if isinstance(host, SyncHost) else host
    impl = PluginHooks(inner.pm, plugin).implementation(hook)
    return impl.function if impl is not None else None


@pytest.fixture
def jafhost_home(tmp_path: Path) -> Path:
    """A fresh, empty host home for one test."""
    home = tmp_path / "jafhost-home"
    home.mkdir()
    return home


@pytest.fixture
def jafhost_factory(jafhost_home: Path) -> Iterator[Callable[..., Any]]:
    """``jafhost_factory("notes", grants=..., isolation=..., config={...})`` -> a running
    test host; every host made is closed after the test."""
    made: list[Any] = []

    def factory(*plugins: str, **options: Any) -> Any:
        host = make_test_host(jafhost_home, *plugins, **options)
        made.append(host)
        return host

    yield factory
    for host in made:
        host.close()
