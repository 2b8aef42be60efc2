"""Recorded contributions and lazy activation: a plugin whose record holds is offered
without running its code and starts at its first use (once, however many uses arrive
together); a stale record means a start with the host; one plugin hanging never delays
a call of another.

Every plugin here is a real distribution; what ran is seen in marker files its code
writes into its own data folder (always writable for it, in either isolation mode).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

MARKED = '''
import os, pathlib
_DATA = pathlib.Path(os.environ.get("JAF_DATA_ROOT", "")) / "{name}" / "data"
def mark(what):
    with open(_DATA / "marks", "a") as out:
        out.write(what + "\\n")
mark("import")


def ping(text: str = "pong") -> str:
    """Answer."""
    return text


@hookimpl
def jaf_activate(ctx):
    mark("activate")
    if (ctx.data_dir / "fail-now").exists():
        raise RuntimeError("told to fail")


@hookimpl
def jaf_tools():
    return [ping]
'''


def marked(name: str) -> str:
    return MARKED.replace("{name}", name)


def marks(home: Path, name: str) -> list[str]:
    path = home / "plugins" / name / "data" / "marks"
    return path.read_text().split() if path.exists() else []


def set_isolation(home: Path, isolation: str, extra: str = "") -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n{extra}')


@pytest.fixture(autouse=True)
def data_root(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a plugin's import finds its data folder (before it has a context)."""
    monkeypatch.setenv("JAF_DATA_ROOT", str(home / "plugins"))


def _prepare(site: Site, home: Path, name: str, code: str, isolation: str, **kw: str) -> None:
    manifest = kw.get("manifest", "") + '\n[permissions]\nenv = ["JAF_DATA_ROOT"]\n'
    site.plugin(name, code=code, manifest=manifest)
    (home / "plugins" / name / "data").mkdir(parents=True, exist_ok=True)


def _recorded_host(make_host: MakeHost, names: list[str], isolation: str) -> Host:
    """A first host starts every plugin (no records yet) and records them."""
    host = make_host(approve=True)
    host.enable(names, isolation=isolation, approve=lambda info, new: True)

    async def first() -> None:
        async with host:
            assert all(host.loaded(n).status == "active" for n in names)  # type: ignore[union-attr]

    asyncio.run(first())
    return host


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_recorded_plugin_is_offered_idle_and_starts_at_its_first_call(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    _prepare(site, home, "lazy", marked("lazy"), isolation)
    _recorded_host(make_host, ["lazy"], isolation)
    assert marks(home, "lazy") == ["import", "activate"]
    host = make_host()

    async def second() -> None:
        async with host:
            loaded = host.loaded("lazy")
            assert loaded is not None and loaded.status == "idle"
            assert [t.full_name for t in host.tools()] == ["lazy.ping"]
            assert host.tool_definitions("mcp")[0]["name"] == "lazy__ping"
            assert marks(home, "lazy") == ["import", "activate"]  # no code ran
            result = await host.call("lazy.ping", {"text": "hi"})
            assert (result.ok, result.result) == (True, "hi")
            assert loaded is not host.loaded("lazy")
            assert host.loaded("lazy").status == "active"  # type: ignore[union-attr]

    asyncio.run(second())
    assert marks(home, "lazy").count("activate") == 2  # (in process, imported once)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_tools_and_exports_from_records_import_no_plugin_code(
    isolation: str, site: Site, home: Path
) -> None:
    _prepare(site, home, "lister", marked("lister"), isolation)
    set_isolation(home, isolation)
    env = {"JAF_DATA_ROOT": str(home / "plugins")}
    assert run_cli("enable", "lister", "--yes", site=site, home=home, env=env).returncode == 0
    first = run_cli("tools", "--json", site=site, home=home, env=env)
    assert first.returncode == 0, first.stderr
    assert marks(home, "lister") == ["import", "activate"]
    for args in (["--json"], ["--format", "openai"], ["--format", "mcp"]):
        again = run_cli("tools", *args, site=site, home=home, env=env)
        assert again.returncode == 0, again.stderr
        assert "lister" in again.stdout
    assert json.loads(again.stdout)[0]["inputSchema"]["properties"]["text"]["type"] == "string"
    assert marks(home, "lister") == ["import", "activate"]  # recorded: never imported again
    info = json.loads(run_cli("info", "lister", "--json", site=site, home=home).stdout)
    assert (info["activation"], info["recorded"]) == ("lazy", True)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_concurrent_first_uses_start_the_plugin_once(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    _prepare(site, home, "once", marked("once"), isolation)
    _recorded_host(make_host, ["once"], isolation)
    host = make_host()

    async def second() -> list[bool]:
        async with host:
            results = await asyncio.gather(*(host.call("once.ping") for _ in range(5)))
            return [r.ok for r in results]

    assert asyncio.run(second()) == [True] * 5
    assert marks(home, "once").count("activate") == 2  # the first host's, and one more


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_lazy_start_that_fails_is_unavailable_naming_plugin_and_step(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    _prepare(site, home, "flaky", marked("flaky"), isolation)
    _recorded_host(make_host, ["flaky"], isolation)
    (home / "plugins" / "flaky" / "data" / "fail-now").write_text("")
    host = make_host()

    async def second() -> None:
        async with host:
            assert host.loaded("flaky").status == "idle"  # type: ignore[union-attr]
            result = await host.call("flaky.ping")
            assert not result.ok and result.error is not None
            error = result.error.to_json()
            assert (error["code"], error["plugin"], error["step"]) == (
                "unavailable",
                "flaky",
                "jaf_activate",
            )
            assert "told to fail" in error["message"]
            broken = host.loaded("flaky")
            assert broken is not None and broken.status == "broken"
            assert (await host.call("flaky.ping")).error.code == "unavailable"  # type: ignore[union-attr]

    asyncio.run(second())
    assert marks(home, "flaky").count("activate") == 2  # not tried again in that host


def test_an_eager_plugin_starts_with_the_host(site: Site, home: Path, make_host: MakeHost) -> None:
    _prepare(
        site,
        home,
        "early",
        marked("early"),
        "inprocess",
        manifest='[plugin]\nactivation = "eager"\n',
    )
    _prepare(site, home, "late", marked("late"), "inprocess")
    _recorded_host(make_host, ["early", "late"], "inprocess")
    host = make_host()

    async def second() -> tuple[str, str]:
        async with host:
            return host.loaded("early").status, host.loaded("late").status  # type: ignore[union-attr]

    assert asyncio.run(second()) == ("active", "idle")
    assert host.plugin("early").info_json()["activation"] == "eager"


def test_a_record_goes_stale_on_upgrade_and_on_a_config_change(
    site: Site, home: Path, make_host: MakeHost
) -> None:
    code = (
        marked("moving").replace(
            "def jaf_tools():\n    return [ping]",
            "def jaf_tools(ctx):\n    return [ping, extra] if ctx.config.more else [ping]",
        )
        + '''
def extra() -> str:
    """Only when configured."""
    return "extra"

from pydantic import BaseModel
class Config(BaseModel):
    more: bool = False

@hookimpl
def jaf_config_schema():
    return Config
'''
    )
    _prepare(site, home, "moving", code, "inprocess")
    _recorded_host(make_host, ["moving"], "inprocess")

    def offered() -> tuple[str, list[str]]:
        host = make_host()

        async def run() -> tuple[str, list[str]]:
            async with host:
                status = host.loaded("moving").status  # type: ignore[union-attr]
                return status, sorted(t.name for t in host.tools())

        return asyncio.run(run())

    assert offered() == ("idle", ["ping"])  # the record holds
    (home / "config.toml").write_text("[plugins.moving]\nmore = true\n")
    assert offered() == ("active", ["extra", "ping"])  # config changed: started, new tool
    assert offered() == ("idle", ["extra", "ping"])  # and recorded again
    site.remove("jaf-plugin-moving")
    upgraded = (
        code.replace("return [ping]", "return [ping, ping2]")
        + '''
def ping2() -> str:
    """New in 2.0."""
    return "2"
'''
    )
    site.plugin(
        "moving", "2.0.0", code=upgraded, manifest='[permissions]\nenv = ["JAF_DATA_ROOT"]\n'
    )
    # upgraded (new dist-info and files): started again (its old module stays imported
    # in this process, so the tools are the old ones), then recorded again
    assert offered()[0] == "active"
    assert offered()[0] == "idle"


def test_a_corrupt_record_is_a_missing_one(site: Site, home: Path, make_host: MakeHost) -> None:
    _prepare(site, home, "solid", marked("solid"), "inprocess")
    _recorded_host(make_host, ["solid"], "inprocess")
    record = home / "cache" / "activation" / "solid.json"
    assert record.is_file()
    record.write_text("{not json")
    host = make_host()

    async def second() -> str:
        async with host:
            return host.loaded("solid").status  # type: ignore[union-attr]

    assert asyncio.run(second()) == "active"
    assert json.loads(record.read_text())["plugin"] == "solid"  # written again


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_event_starts_a_lazy_plugin_and_reaches_it(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    code = (
        marked("listener")
        + """
@hookimpl
def jaf_event_handlers():
    def on_order(event, ctx):
        with open(ctx.data_dir / "events", "a") as out:
            out.write(event.name + "\\n")
    return {"order.*": on_order}
"""
    )
    _prepare(site, home, "listener", code, isolation)
    _recorded_host(make_host, ["listener"], isolation)
    host = make_host()

    async def second() -> list[dict[str, str]]:
        async with host:
            assert host.loaded("listener").status == "idle"  # type: ignore[union-attr]
            report = await host.emit("order.created", {"id": 1})
            assert report.ok, report.to_json()
            return report.delivered

    assert asyncio.run(second()) == [{"plugin": "listener", "pattern": "order.*"}]
    assert (home / "plugins" / "listener" / "data" / "events").read_text() == "order.created\n"


AUDIT = """
import json

@hookimpl
def jaf_initialize(ctx):
    FOLDER.append(ctx.data_dir)

FOLDER = []

@hookimpl(wrapper=True)
def jaf_tool_call(call):
    result = yield
    with open(FOLDER[-1] / "trail.jsonl", "a") as out:
        out.write(json.dumps({"tool": call.name}) + "\\n")
    return result
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_observe_middleware_wraps_calls_of_lazily_started_plugins(
    isolation: str, site: Site, home: Path, make_host: MakeHost
) -> None:
    site.plugin("audit", code=AUDIT, manifest="[permissions]\nobserve = true\n")
    _prepare(site, home, "worker", marked("worker"), isolation)
    _recorded_host(make_host, ["audit", "worker"], isolation)
    trail = home / "plugins" / "audit" / "data" / "trail.jsonl"
    trail.unlink(missing_ok=True)
    host = make_host()

    async def second() -> tuple[str, str]:
        async with host:
            states = host.loaded("audit").status, host.loaded("worker").status  # type: ignore[union-attr]
            assert (await host.call("worker.ping")).ok
            return states

    assert asyncio.run(second()) == ("active", "idle")
    assert [json.loads(line)["tool"] for line in trail.read_text().splitlines()] == ["worker.ping"]


HANGING = """
import threading

@hookimpl
def jaf_activate(ctx):
    threading.Event().wait()
"""

STUCK_AT_EXIT = """
import threading

@hookimpl
def jaf_deactivate(ctx):
    threading.Event().wait()
"""


def test_a_plugin_hanging_in_activate_costs_a_call_of_another_nothing_api(
    site: Site, home: Path, make_host: MakeHost
) -> None:
    _prepare(site, home, "good", marked("good"), "inprocess")
    site.plugin("hang", code=HANGING)
    host = make_host(approve=True, hook_timeout=600)
    host.enable(["good", "hang"], isolation="inprocess", approve=lambda info, new: True)

    async def scenario() -> tuple[bool, str]:
        await host.activate_all(wait=False)
        result = await host.call("good.ping")
        status = host.loaded("hang").status  # type: ignore[union-attr]
        await host.shutdown(0.1)
        return result.ok, status

    # bounded by asyncio.wait_for only so a regression fails instead of hanging the suite
    ok, status = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert (ok, status) == (True, "starting")


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_hanging_in_activate_or_deactivate_costs_a_call_nothing_cli(
    isolation: str, site: Site, home: Path
) -> None:
    _prepare(site, home, "good", marked("good"), isolation)
    site.plugin("hang", code=HANGING)
    site.plugin("stuck", code=STUCK_AT_EXIT, manifest='[plugin]\nactivation = "eager"\n')
    set_isolation(home, isolation, "hook_timeout = 600\n")
    env = {"JAF_DATA_ROOT": str(home / "plugins")}
    enabled = run_cli("enable", "good", "hang", "stuck", "--yes", site=site, home=home, env=env)
    assert enabled.returncode == 0, enabled.stderr
    for _ in range(2):  # without a record of good, then with one
        # run_cli's own limit is far below hook_timeout: waiting on hang or stuck fails
        result = run_cli("call", "good.ping", "-a", "text=ok", site=site, home=home, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == "ok"


def test_agents_come_from_records_while_the_plugin_is_idle(
    site: Site, home: Path, make_host: MakeHost
) -> None:
    code = (
        marked("helpers")
        + """
from jafhost import AgentSpec

@hookimpl
def jaf_agents():
    return [AgentSpec(name="helper", instructions="Help.", tools=("helpers.*",))]
"""
    )
    _prepare(site, home, "helpers", code, "inprocess")
    _recorded_host(make_host, ["helpers"], "inprocess")
    host = make_host()

    async def second() -> tuple[str, list[dict[str, object]]]:
        async with host:
            agents = [a.to_json() for a in host.agents()]
            return host.loaded("helpers").status, agents  # type: ignore[union-attr]

    status, agents = asyncio.run(second())
    assert status == "idle"
    assert [(a["full_name"], a["tools"]) for a in agents] == [("helpers.helper", ["helpers.*"])]
    assert marks(home, "helpers").count("activate") == 1


def test_a_plugin_emitting_its_own_pattern_while_starting_does_not_wait_on_itself(
    site: Site, home: Path, make_host: MakeHost
) -> None:
    code = (
        marked("selfish")
        + """
@hookimpl
async def jaf_initialize(ctx):
    await ctx.emit("self.ready", {})

@hookimpl
def jaf_event_handlers():
    return {"self.*": lambda event: None}
"""
    )
    _prepare(site, home, "selfish", code, "inprocess")
    _recorded_host(make_host, ["selfish"], "inprocess")
    host = make_host(hook_timeout=600)

    async def second() -> bool:
        async with host:
            assert host.loaded("selfish").status == "idle"  # type: ignore[union-attr]
            return (await host.call("selfish.ping")).ok

    # bounded only so that a start waiting on itself fails instead of hanging the suite
    assert asyncio.run(asyncio.wait_for(second(), 120)) is True
