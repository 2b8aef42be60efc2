"""``jafhost call``'s one-shot lane answers exactly as the full path does.

Each case runs the real ``jafhost`` twice in the same home, once as it comes (the lane
serves a recorded in-process plugin's plain tool) and once with the lane switched off
(``JAFHOST_CALL_LANE=0``: the full path through a ``Host``), and compares stdout,
stderr and the exit code. ``JAFHOST_TRACE_CALL=1`` makes each say which path served it
(its line is taken out before the comparison), so a case cannot pass by both runs
quietly taking the full path. Real distributions on a temporary path, real processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from call_paths import ECHO, FULL, TRACE, lane_imports, split_trace

from conftest import Site, run_cli

TOOLS = '''
import time

from jafhost import PluginContext


class Odd:
    def __repr__(self) -> str:
        return "Odd()"


def echo(text: str, times: int = 1, loud: bool = False, ratio: float | None = None) -> str:
    """Repeat the text."""
    said = text * times
    if ratio is not None:
        said += f" {ratio!r}"
    return said.upper() if loud else said


def fail(message: str) -> str:
    """Raise."""
    raise ValueError(message)


def slow(seconds: float) -> str:
    """Sleep."""
    time.sleep(seconds)
    return "done"


def shape(n: int) -> object:
    """Answer more than plain JSON."""
    return {"n": n, "tuple": (1, 2), "set": [3], "odd": Odd()}


def nothing() -> None:
    """Answer nothing."""


def warn(text: str) -> str:
    """Log a warning (``logging`` imported only now)."""
    import logging

    logging.getLogger("jafhost.plugin.lane").warning("careful: %s", text)
    logging.getLogger("jafhost").warning("as the host: %s", text)
    return text


def fire(ctx: PluginContext) -> str:
    """Send an event."""
    ctx.emit("lane.fired", {"n": 1})
    return "sent"


@hookimpl
def jaf_tools():
    return [echo, fail, slow, shape, nothing, warn, fire]
'''

LISTENER = '''
@hookimpl
def jaf_event_handlers():
    def on_fired(event, ctx):
        with open(ctx.data_dir / "events", "a") as out:
            out.write(event.name + "\\n")
    return {"lane.*": on_fired}


def ping() -> str:
    """Answer."""
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
'''


@pytest.fixture
def lane_home(site: Site, home: Path) -> Path:
    """Plugin ``lane`` (and ``listener``) installed, in process, recorded."""
    site.plugin("lane", code=TOOLS)
    site.plugin("listener", code=LISTENER)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\ncall_timeout = 20\n')
    warm = run_cli("call", "lane.echo", "-a", "text=warm", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    warm = run_cli("call", "listener.ping", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    return home


CASES = {
    "plain": (["lane.echo", "-a", "text=hi"], "lane", 0),
    "plain, every parameter": (
        ["lane.echo", "--json", '{"text": "a", "times": 2, "loud": true, "ratio": 0.5}'],
        "lane",
        0,
    ),
    "plain, None for an optional": (
        ["lane.echo", "--json", '{"text": "a", "ratio": null}'],
        "lane",
        0,
    ),
    "coerced: a string for an int": (["lane.echo", "-a", "text=a", "-a", 'times="3"'], "lane", 0),
    "coerced: an int for a float": (["lane.echo", "-a", "text=a", "-a", "ratio=2"], "lane", 0),
    "invalid: not an int": (["lane.echo", "-a", "text=a", "-a", 'times="x"'], "lane", 2),
    "invalid: None for a str": (["lane.echo", "--json", '{"text": null}'], "lane", 2),
    "extra argument": (["lane.echo", "-a", "text=a", "-a", "nope=1"], "lane", 2),
    "missing argument": (["lane.echo"], "lane", 2),
    "tool error": (["lane.fail", "-a", "message=boom"], "lane", 1),
    "timeout": (["lane.slow", "-a", "seconds=30", "--timeout", "0.5"], "lane", 1),
    "non-plain result": (["lane.shape", "-a", "n=2"], "lane", 0),
    "no result": (["lane.nothing"], "lane", 0),
    "a tool that logs": (["lane.warn", "-a", "text=\x1b[2Jhi"], "lane", 0),
    "unknown tool": (["lane.absent"], "full", 2),
    "unknown plugin": (["nobody.echo"], "full", 2),
    "a tool that takes the context": (["lane.fire"], "full", 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_lane_answers_as_the_full_path(case: str, site: Site, lane_home: Path) -> None:
    args, expected_path, code = CASES[case]
    lane = run_cli("call", *args, site=site, home=lane_home, env=TRACE)
    full = run_cli("call", *args, site=site, home=lane_home, env=FULL)
    lane_path, lane_err = split_trace(lane)
    full_path, full_err = split_trace(full)
    assert (lane_path, full_path) == (expected_path, "full")
    assert (lane.returncode, lane.stdout, lane_err) == (full.returncode, full.stdout, full_err)
    assert lane.returncode == code, lane.stderr


def test_an_event_from_a_tool_reaches_its_subscriber(site: Site, lane_home: Path) -> None:
    """A tool that can emit takes the context: the full path serves it, and the idle
    subscriber starts to receive the event as in any host."""
    result = run_cli("call", "lane.fire", site=site, home=lane_home, env=TRACE)
    assert result.returncode == 0, result.stderr
    assert split_trace(result)[0] == "full"
    events = lane_home / "plugins" / "listener" / "data" / "events"
    assert events.read_text() == "lane.fired\n"


HEAVY = ("pydantic", "pydantic_core", "asyncio", "typer", "click", "rich", "importlib.metadata")
WARM_UNNEEDED = (
    "tomllib",  # config.toml's bytes are compared, not parsed, while the summary holds
    "hashlib",  # OpenSSL: BLAKE2b comes from ``_blake2``; files are hashed only when changed
    "_hashlib",
    "subprocess",  # the guard patches it only once a plugin imports it
    "socket",  # the guard needs ``_socket`` alone
    "jafhost.types",  # a successful answer is printed without ``CallResult``
    "jafhost.runtime.activation_records",  # the plan holds what the record said
    "jafhost.home.config_fast",
    "jafhost.home.plugin_tables",
    "jafhost.host.host",
    "jafhost.runtime.runtime",
    "logging",  # its handler is installed when something imports it
    "concurrent.futures",  # the guard wraps its executor when something imports it
    "concurrent.futures.thread",
    "dataclasses",  # values on the path are plain or ``Frozen`` classes
    "csv",  # RECORD is split at its commas unless a line is quoted
    "jafhost.runtime.telemetry",  # only an ``OTEL_*`` variable makes the lane ask it
    "math",
    "pathlib",  # the home's places as strings (``HomeLayout.at``): about 1.5 ms
    "tempfile",  # only a summary written again needs it
)
"""Modules a warm lane call (its plan in the summary) does without: what it costs
beyond the bare script is kept from creeping back."""


def test_the_lane_imports_none_of_the_heavy_modules(site: Site, lane_home: Path) -> None:
    """Ground truth from the interpreter itself: ``-X importtime`` lists every module
    the process imported."""
    imported = lane_imports(site.root, lane_home, "lane.echo")
    assert "jafhost.cli.oneshot" in imported
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
    # the warm call of a plugin importing only ``hookimpl`` (``lane`` imports
    # ``PluginContext``, hence ``jafhost.types`` and ``logging``, itself): recorded by a
    # first call, its summary written by a second
    site.plugin("bare", code=ECHO)
    for _ in range(2):
        warming = run_cli("call", "bare.echo", "-a", "text=x", site=site, home=lane_home)
        assert warming.returncode == 0, warming.stderr
    warm = lane_imports(site.root, lane_home, "bare.echo")
    assert "jafhost.security.guard" in warm
    assert warm.isdisjoint(WARM_UNNEEDED), sorted(warm & set(WARM_UNNEEDED))


def test_without_a_record_the_full_path_serves_and_records(site: Site, home: Path) -> None:
    site.plugin("lane", code=TOOLS)
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\n')
    first = run_cli("call", "lane.echo", "-a", "text=a", site=site, home=home, env=TRACE)
    second = run_cli("call", "lane.echo", "-a", "text=a", site=site, home=home, env=TRACE)
    assert (split_trace(first)[0], split_trace(second)[0]) == ("full", "lane")
    assert first.stdout == second.stdout == '"a"\n'


@pytest.mark.parametrize(
    "config",
    [
        '[host]\nisolation = "process"\n',
        "[host]\n",
        '[host]\nisolation = "inprocess"\n[agents.helper]\nmodel = "scripted:x"\n',
    ],
    ids=["isolated", "platform default", "more than host and plugins"],
)
def test_what_the_lane_does_not_read_goes_to_the_full_path(
    config: str, site: Site, lane_home: Path
) -> None:
    (lane_home / "config.toml").write_text(config)
    result = run_cli("call", "lane.echo", "-a", "text=a", site=site, home=lane_home, env=TRACE)
    assert split_trace(result)[0] == "full"


def test_debug_output_comes_from_the_full_path(site: Site, lane_home: Path) -> None:
    result = run_cli(
        "--debug", "call", "lane.echo", "-a", "text=a", site=site, home=lane_home, env=TRACE
    )
    assert split_trace(result)[0] == "full"
    assert result.stdout == '"a"\n'
