"""``jafhost call X`` offers only what the call needs: X (and what X needs), ``eager``
plugins and ``observe`` middleware; no other plugin starts and no other record is read,
so the command costs the same however many plugins are installed. An event the call
sends still reaches every subscribed plugin, as in a host that offered everything.

Real distributions on a temporary path, real ``jafhost`` processes; what ran is seen in
marker files each plugin writes into its own data folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site, run_cli

MARKS = """
import os, pathlib
_DATA = pathlib.Path(os.environ["JAF_DATA_ROOT"]) / "{name}" / "data"
_DATA.mkdir(parents=True, exist_ok=True)
with open(_DATA / "marks", "a") as out:
    out.write("import\\n")
"""

CALLER = '''
from jafhost import PluginContext


def fire(ctx: PluginContext) -> str:
    """Send an event, then answer."""
    ctx.emit("order.created", {"id": 7})
    return "sent"


def quiet() -> str:
    """Answer without sending anything."""
    return "quiet"


@hookimpl
def jaf_tools():
    return [fire, quiet]
'''

LISTENER = '''
@hookimpl
def jaf_event_handlers():
    def on_order(event, ctx):
        with open(ctx.data_dir / "events", "a") as out:
            out.write(event.name + "\\n")
    return {"order.*": on_order}


def ping() -> str:
    """Answer."""
    return "pong"


@hookimpl
def jaf_tools():
    return [ping]
'''

BYSTANDER = '''
def idle() -> str:
    """Never needed here."""
    return "idle"


@hookimpl
def jaf_tools():
    return [idle]
'''

MANIFEST = '[permissions]\nenv = ["JAF_DATA_ROOT"]\n'


def _marks(home: Path, name: str) -> list[str]:
    path = home / "plugins" / name / "data" / "marks"
    return path.read_text().split() if path.exists() else []


def _setup(site: Site, home: Path, isolation: str) -> dict[str, str]:
    for name, code in (("caller", CALLER), ("listener", LISTENER), ("bystander", BYSTANDER)):
        site.plugin(name, code=MARKS.replace("{name}", name) + code, manifest=MANIFEST)
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n')
    env = {"JAF_DATA_ROOT": str(home / "plugins")}
    names = ["caller", "listener", "bystander"]
    enabled = run_cli("enable", *names, "--yes", site=site, home=home, env=env)
    assert enabled.returncode == 0, enabled.stderr
    listed = run_cli("tools", "--json", site=site, home=home, env=env)  # records them all
    assert listed.returncode == 0, listed.stderr
    assert {t["plugin"] for t in json.loads(listed.stdout)} == set(names)
    # bystander's record lost: a host offering everything would start it with the host
    records = list((home / "cache").rglob("bystander.json"))
    assert records, "tools recorded no activation record of bystander"
    for record in records:
        record.unlink()
    return env


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_call_starts_no_plugin_it_does_not_need(isolation: str, site: Site, home: Path) -> None:
    env = _setup(site, home, isolation)
    before = _marks(home, "bystander")
    result = run_cli("call", "caller.quiet", site=site, home=home, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "quiet"
    assert _marks(home, "bystander") == before  # unrecorded, yet not started
    assert _marks(home, "listener") == ["import"]  # recorded by `tools`, idle since


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_event_sent_by_the_call_still_reaches_an_idle_subscriber(
    isolation: str, site: Site, home: Path
) -> None:
    env = _setup(site, home, isolation)
    result = run_cli("call", "caller.fire", site=site, home=home, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "sent"
    events = home / "plugins" / "listener" / "data" / "events"
    assert events.read_text() == "order.created\n"
