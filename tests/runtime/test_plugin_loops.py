"""An in-process plugin's coroutines run on a loop of its own, the same from start to stop.

What it binds to its loop in ``jaf_activate`` (a queue, a background task) keeps
working in its tools and handlers; its code never runs on the host's thread; a task of
its own that raises ``KeyboardInterrupt`` does not end its loop; its loop's thread ends
when it is stopped.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from conftest import Site
from jafhost.host.host import Host

MakeHost = Callable[..., Host]

BOUND = '''
import asyncio
import threading

STATE = {}


async def _serve(queue):
    while True:
        item, answer = await queue.get()
        answer.set_result(item * 2)


async def _explode():
    raise KeyboardInterrupt("a task of its own")


@hookimpl
async def jaf_activate(ctx):
    STATE["queue"] = asyncio.Queue()
    STATE["server"] = asyncio.create_task(_serve(STATE["queue"]))
    STATE["explode"] = asyncio.create_task(_explode())


async def double(n: int) -> int:
    """Through the queue made in jaf_activate."""
    answer = asyncio.get_running_loop().create_future()
    await STATE["queue"].put((n, answer))
    return await answer


async def where() -> str:
    """The thread its code runs in."""
    return threading.current_thread().name


async def on_ping(event) -> None:
    answer = asyncio.get_running_loop().create_future()
    await STATE["queue"].put((1, answer))
    await answer


@hookimpl
def jaf_tools():
    return [double, where]


@hookimpl
def jaf_event_handlers():
    return {"ping": on_ping}
'''


def test_a_plugin_keeps_its_loop_from_activate_to_its_tools(
    site: Site, make_host: MakeHost, inprocess: object
) -> None:
    site.plugin("bound", code=BOUND)
    host = make_host()

    async def scenario() -> threading.Thread:
        async with host:
            assert host.active == ["bound"]
            doubled = await host.call("bound.double", {"n": 21})
            assert (doubled.ok, doubled.result) == (True, 42), doubled
            report = await host.emit("ping")
            assert report.ok, report.to_json()
            where = await host.call("bound.where", {})
            assert where.ok and where.result == "jafhost-loop-bound"
            assert threading.current_thread().name != where.result
            [thread] = [t for t in threading.enumerate() if t.name == "jafhost-loop-bound"]
            await host.deactivate("bound")
            return thread

    thread = asyncio.run(scenario())
    thread.join(30)
    assert not thread.is_alive()  # stopped with its plugin


SPINNER = '''
async def spin() -> str:
    """Never yields, never ends."""
    while True:
        pass


@hookimpl
def jaf_tools():
    return [spin]
'''


def test_the_thread_of_a_loop_given_up_on_is_stopped(
    site: Site, make_host: MakeHost, inprocess: object
) -> None:
    site.plugin("spinner", code=SPINNER)
    host = make_host()

    async def scenario() -> threading.Thread:
        async with host:
            spun = await host.call("spinner.spin", {}, timeout=1)
            assert spun.error is not None and spun.error.code == "timeout"
            loaded = host.loaded("spinner")
            assert loaded is not None and loaded.status == "broken"
            [thread] = [t for t in threading.enumerate() if t.name == "jafhost-loop-spinner"]
            return thread

    thread = asyncio.run(scenario())
    thread.join(30)
    assert not thread.is_alive()  # its busy loop was ended, not left to spin
