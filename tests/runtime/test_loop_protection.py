"""No plugin code keeps the host from serving the others, and what it raises is its own.

An async function that never yields (``while True: pass``), in any hook, tool, event
handler, middleware, integration method, health check or model provider, costs the
caller its time limit and nothing more: the time limit fires, and the host goes on to
serve another plugin. A ``KeyboardInterrupt`` (or ``SystemExit``, ``GeneratorExit``,
``CancelledError``) raised by plugin code is that plugin's error, naming it. Both
isolation modes. (A real Ctrl-C: ``tests/cli/test_cli_interrupt.py``.)
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ISOLATION_MODES, Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

BUSY = "import time\n_end = time.monotonic() + 8\nwhile time.monotonic() < _end:\n    pass"
"""A body that does not yield for 8 s (no ``await``: only another thread can take over),
then ends, so the threads the host abandons do not pile up in the test process."""

RAISES = {
    "KeyboardInterrupt": 'raise KeyboardInterrupt("from the plugin")',
    "SystemExit": "raise SystemExit(4)",
    "GeneratorExit": "raise GeneratorExit()",
    "CancelledError": "import asyncio\nraise asyncio.CancelledError()",
}

STEADY = '''
def ping() -> str:
    """Answer."""
    return "pong"


async def ping_async() -> str:
    """Answer from async code."""
    return "pong"


def on_tick(event) -> None:
    pass


@hookimpl
def jaf_tools():
    return [ping, ping_async]


@hookimpl
def jaf_event_handlers():
    return {"tick": on_tick}
'''
"""The plugin that must keep being served whatever the other one does."""


def _hook(signature: str, body: str, is_async: bool, returns: str = "") -> str:
    prefix = "async def" if is_async else "def"
    code = textwrap.indent(body, "    ")
    tail = f"\n    return {returns}" if returns else ""
    return f"@hookimpl\n{prefix} {signature}:\n{code}{tail}\n"


LIFECYCLE = {
    "jaf_config_schema": ("jaf_config_schema()", "None"),
    "jaf_initialize": ("jaf_initialize(ctx)", ""),
    "jaf_integrations": ("jaf_integrations(ctx)", "[]"),
    "jaf_activate": ("jaf_activate(ctx)", ""),
    "jaf_tools": ("jaf_tools(ctx)", "[]"),
    "jaf_agents": ("jaf_agents(ctx)", "[]"),
    "jaf_model_providers": ("jaf_model_providers(ctx)", "[]"),
    "jaf_event_handlers": ("jaf_event_handlers(ctx)", "{}"),
}


def _install(site: Site, make_host: MakeHost, isolation: str, code: str, **kw: Any) -> Host:
    site.plugin("spinner", code=code)
    site.plugin("steady", code=STEADY)
    host = make_host(hook_timeout=1.0, **kw)
    host.enable(["spinner", "steady"], isolation=isolation)
    return host


async def _steady_serves(host: Host) -> None:
    for name in ("steady.ping", "steady.ping_async"):
        result = await host.call(name, {}, timeout=5)
        assert (result.ok, result.result) == (True, "pong"), result
    report = await host.emit("tick")
    assert {"plugin": "steady", "pattern": "tick"} in report.delivered


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))  # a hang fails the test, never blocks it


# -- lifecycle hooks -----------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("hook", list(LIFECYCLE))
def test_async_busy_loop_in_a_start_hook_times_out(
    hook: str, isolation: str, site: Site, make_host: MakeHost
) -> None:
    signature, returns = LIFECYCLE[hook]
    host = _install(site, make_host, isolation, _hook(signature, BUSY, True, returns))

    async def scenario() -> None:
        async with host:
            spinner = host.loaded("spinner")
            assert spinner is not None and spinner.status == "broken"
            assert spinner.error is not None and "timed out after 1 s" in spinner.error
            assert host.active == ["steady"]
            await _steady_serves(host)

    _run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("hook", list(LIFECYCLE))
def test_keyboard_interrupt_in_a_start_hook_is_the_plugins_error(
    hook: str, is_async: bool, isolation: str, site: Site, make_host: MakeHost
) -> None:
    signature, returns = LIFECYCLE[hook]
    code = _hook(signature, RAISES["KeyboardInterrupt"], is_async, returns)
    host = _install(site, make_host, isolation, code)

    async def scenario() -> None:
        async with host:
            spinner = host.loaded("spinner")
            assert spinner is not None and spinner.status == "broken"
            assert spinner.error is not None
            assert "plugin spinner raised KeyboardInterrupt: from the plugin" in spinner.error
            assert host.active == ["steady"]
            await _steady_serves(host)

    _run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("body", [BUSY, RAISES["KeyboardInterrupt"]], ids=["busy", "interrupt"])
def test_deactivate_that_hangs_or_interrupts_stops_only_its_plugin(
    body: str, isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, _hook("jaf_deactivate(ctx)", body, True))

    async def scenario() -> None:
        async with host:
            assert host.active == ["spinner", "steady"] or host.active == ["steady", "spinner"]
            await host.deactivate("spinner")
            assert host.active == ["steady"]
            await _steady_serves(host)

    _run(scenario())


# -- tools, handlers, middleware -----------------------------------------------------------

TOOLS = '''
import asyncio


async def spin() -> str:
    """Never yields."""
    import time
    _end = time.monotonic() + 8
    while time.monotonic() < _end:
        pass


async def nap() -> str:
    """Yields, slowly."""
    await asyncio.sleep(0.01)
    return "rested"


@hookimpl
def jaf_tools():
    return [spin, nap]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_async_busy_tool_times_out_and_the_host_serves_others(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, TOOLS)

    async def scenario() -> None:
        async with host:
            spun = await host.call("spinner.spin", {}, timeout=1)
            assert spun.error is not None and spun.error.code == "timeout", spun
            await _steady_serves(host)
            again = await host.call("spinner.nap", {}, timeout=5)
            if isolation == "process":  # its worker was stopped: a new one serves
                assert (again.ok, again.result) == (True, "rested"), again
                return
            # in process its thread cannot be stopped: the plugin is broken, said so
            spinner = host.loaded("spinner")
            assert spinner is not None and spinner.status == "broken"
            assert spinner.error == "its event loop is blocked by tool spinner.spin"
            assert again.error is not None and again.error.code == "unavailable"
            assert "its event loop is blocked by tool spinner.spin" in again.error.message
            assert host.active == ["steady"]

    _run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_busy_tools_run_side_by_side_with_calls_of_other_plugins(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, TOOLS)

    async def scenario() -> None:
        async with host:
            spinning = asyncio.ensure_future(host.call("spinner.spin", {}, timeout=3))
            await asyncio.sleep(0.5)
            assert not spinning.done()
            await _steady_serves(host)  # while it spins
            spun = await spinning
            assert spun.error is not None and spun.error.code == "timeout"

    _run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", list(RAISES))
def test_base_exception_in_a_tool_is_a_tool_error_naming_the_plugin(
    kind: str, is_async: bool, isolation: str, site: Site, make_host: MakeHost
) -> None:
    prefix = "async def" if is_async else "def"
    code = (
        f'{prefix} quit() -> str:\n    """Raises."""\n'
        + textwrap.indent(RAISES[kind], "    ")
        + "\n\n@hookimpl\ndef jaf_tools():\n    return [quit]\n"
    )
    host = _install(site, make_host, isolation, code)

    async def scenario() -> None:
        async with host:
            result = await host.call("spinner.quit", {}, timeout=5)
            assert result.error is not None and result.error.code == "tool_error", result
            assert f"plugin spinner raised {kind}" in result.error.message
            assert result.error.plugin == "spinner"
            await _steady_serves(host)
            assert host.active == ["spinner", "steady"] or host.active == ["steady", "spinner"]

    _run(scenario())


HANDLERS = """
async def spin(event) -> None:
    import time
    _end = time.monotonic() + 8
    while time.monotonic() < _end:
        pass


def interrupt(event) -> None:
    raise KeyboardInterrupt("from the plugin")


@hookimpl
def jaf_event_handlers():
    return {"tick": spin, "tock": interrupt}
"""


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_event_handlers_that_hang_or_interrupt_fail_their_delivery_only(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, HANDLERS)

    async def scenario() -> None:
        async with host:
            tock = await host.emit("tock")
            assert [f["plugin"] for f in tock.failed] == ["spinner"]
            assert "plugin spinner raised KeyboardInterrupt" in tock.failed[0]["error"]
            tick = await host.emit("tick")
            assert [f["plugin"] for f in tick.failed] == ["spinner"]
            assert "did not finish within 1 s" in tick.failed[0]["error"]
            assert {"plugin": "steady", "pattern": "tick"} in tick.delivered
            await _steady_serves(host)

    _run(scenario())


MIDDLEWARE = '''
def echo(text: str) -> str:
    """Say it back."""
    return text


@hookimpl(wrapper=True)
def jaf_tool_call(call):
    if call.arguments.get("text") == "spin":
        import time
        _end = time.monotonic() + 8
        while time.monotonic() < _end:
            pass
    if call.arguments.get("text") == "interrupt":
        raise KeyboardInterrupt("from the plugin")
    return (yield)


@hookimpl
def jaf_tools():
    return [echo]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_middleware_that_hangs_or_interrupts_fails_the_call_only(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, MIDDLEWARE)

    async def scenario() -> None:
        async with host:
            interrupted = await host.call("spinner.echo", {"text": "interrupt"}, timeout=5)
            assert interrupted.error is not None and interrupted.error.code == "tool_error"
            assert "plugin spinner raised KeyboardInterrupt" in interrupted.error.message
            spun = await host.call("spinner.echo", {"text": "spin"}, timeout=1)
            assert spun.error is not None and spun.error.code == "timeout"
            await _steady_serves(host)

    _run(scenario())


# -- integrations, health checks, model providers -----------------------------------------

PROVIDER = """
from jafhost import Integration


class Client:
    async def spin(self) -> int:
        import time
        _end = time.monotonic() + 8
        while time.monotonic() < _end:
            pass

    def interrupt(self) -> int:
        raise KeyboardInterrupt("from the plugin")


async def healthy(client) -> bool:
    import time
    _end = time.monotonic() + 8
    while time.monotonic() < _end:
        pass


@hookimpl
def jaf_integrations():
    return [Integration(name="svc", connect=Client, health=healthy)]
"""

DEPENDENT = '''
from jafhost import PluginContext


async def use(method: str, ctx: PluginContext) -> str:
    """Calls the provider's service."""
    try:
        return repr(await getattr(ctx.integration("spinner.svc"), method)())
    except Exception as exc:
        return f"failed: {exc}"


@hookimpl
def jaf_tools():
    return [use]
'''


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_integration_methods_that_hang_or_interrupt_fail_the_dependents_call(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    site.plugin("user", code=DEPENDENT, requires=["jaf-plugin-spinner"])
    host = _install(site, make_host, isolation, PROVIDER)
    host.enable(["user"], isolation=isolation)

    async def scenario() -> None:
        async with host:
            interrupted = await host.call("user.use", {"method": "interrupt"}, timeout=5)
            assert interrupted.ok, interrupted
            assert "plugin spinner raised KeyboardInterrupt" in interrupted.result
            spun = await host.call("user.use", {"method": "spin"}, timeout=1)
            assert spun.error is not None and spun.error.code == "timeout", spun
            await _steady_serves(host)

    _run(scenario())


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_health_check_that_hangs_is_reported(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, PROVIDER)

    async def scenario() -> None:
        async with host:
            [health] = await host.runtime.health("spinner")
            assert health["problem"] is not None
            assert "did not finish within 1 s" in health["problem"]
            await _steady_serves(host)

    _run(scenario())


MODELS = """
class Spinner:
    name = "spinning"

    async def complete(self, messages, tools, model):
        import time
        _end = time.monotonic() + 8
        while time.monotonic() < _end:
            pass


class Interrupter:
    name = "interrupting"

    def complete(self, messages, tools, model):
        raise KeyboardInterrupt("from the plugin")


@hookimpl
def jaf_model_providers():
    return [Spinner(), Interrupter()]


@hookimpl
def jaf_agents():
    from jafhost import AgentSpec

    return [AgentSpec("helper", "You help.", tools=("steady.*",))]
"""


@pytest.mark.usefixtures("local_only")
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_model_providers_that_hang_or_interrupt_end_the_run_only(
    isolation: str, site: Site, make_host: MakeHost
) -> None:
    host = _install(site, make_host, isolation, MODELS)

    async def scenario() -> None:
        async with host:
            interrupted = await host.run_agent("helper", "hi", model="interrupting")
            assert interrupted.stop == "provider_error"
            assert interrupted.error is not None
            assert "plugin spinner raised KeyboardInterrupt" in interrupted.error
            spun = await host.run_agent("helper", "hi", model="spinning", model_timeout=1)
            assert spun.stop == "provider_error"
            assert spun.error == "model provider spinning did not answer within 1 s"
            await _steady_serves(host)

    _run(scenario())
