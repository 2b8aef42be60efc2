"""Integrations: connected after initialize, closed in reverse, shared only with dependents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.host.host import Host

# integration lifecycles in process (the journal variable); the proxy in both modes:
# tests/runtime/test_integration_proxy.py
pytestmark = pytest.mark.usefixtures("inprocess")

MakeHost = Callable[..., Host]

STORE = """
import json, os, sqlite3
from jafhost import Integration, PluginContext

def note(what):
    with open(os.environ["JAF_TEST_JOURNAL"], "a") as f:
        f.write(what + "\\n")

STATE = {}

@hookimpl
def jaf_initialize(ctx):
    STATE["path"] = ctx.data_dir / "store.db"
    note("initialize")

class KV:  # what dependents call through the integration proxy: JSON in, JSON out

    def __init__(self, db):
        self.db = db

    def put(self, key, value):
        self.db.execute("insert or replace into kv values (?, ?)", (key, value))
        self.db.commit()

    def get(self, key):
        row = self.db.execute("select v from kv where k = ?", (key,)).fetchone()
        return row[0] if row else None

def connect():
    note("connect db")
    db = sqlite3.connect(STATE["path"], check_same_thread=False)
    db.execute("create table if not exists kv (k text primary key, v text)")
    return KV(db)

def close(kv):
    note("close db")
    kv.db.close()

def health(kv):
    return kv.db.execute("select 1").fetchone() == (1,) and os.environ.get("STORE_SICK") != "1"

async def connect_cache():
    note("connect cache")
    return {}

async def close_cache(cache):
    note("close cache")

@hookimpl
def jaf_integrations():
    return [
        Integration("db", connect, close, health),
        Integration("cache", connect_cache, close_cache),
    ]

@hookimpl
def jaf_deactivate(ctx):
    note("deactivate")
"""

APP = """
from jafhost import PluginContext

def put(key: str, value: str, ctx: PluginContext) -> str:
    ctx.integration("store.db").put(key, value)
    return "stored"

def get(key: str, ctx: PluginContext) -> str | None:
    return ctx.integration("store.db").get(key)

def other(name: str, ctx: PluginContext) -> str:
    return repr(ctx.integration(name))

@hookimpl
def jaf_tools():
    return [put, get, other]
"""


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site) -> Path:
    folder = tmp_path / "journal"
    folder.mkdir()
    path = folder / "journal.txt"
    path.write_text("")
    monkeypatch.setenv("JAF_TEST_JOURNAL", str(path))
    site.default_manifest = (
        f'[permissions]\nwrite = ["{folder}"]\nenv = ["JAF_TEST_JOURNAL", "STORE_SICK"]\n'
    )
    return path


def test_dependents_use_integrations_and_they_close_in_reverse(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    site.plugin("store", code=STORE)
    site.plugin("app", code=APP, requires=["jaf-plugin-store"])
    site.plugin("stranger", code=APP)  # the same code, but no dependency on store
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            assert (await host.call("app.put", {"key": "a", "value": "1"})).result == "stored"
            assert (await host.call("app.get", {"key": "a"})).result == "1"
            refused = await host.call("stranger.get", {"key": "a"})
            assert refused.error is not None
            assert "may not use integration store.db" in refused.error.message
            assert "does not depend on plugin store" in refused.error.message
            unknown = await host.call("app.other", {"name": "store.nope"})
            assert unknown.error is not None
            assert "offers: store.db, store.cache" in unknown.error.message

    asyncio.run(scenario())
    assert journal.read_text().split("\n")[:-1] == [
        "initialize",
        "connect db",
        "connect cache",
        "deactivate",
        "close cache",
        "close db",
    ]


def test_failing_connect_breaks_the_plugin_and_closes_what_connected(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    code = STORE.replace(
        'async def connect_cache():\n    note("connect cache")',
        'async def connect_cache():\n    note("connect cache")\n'
        "    raise ConnectionError('cache down')",
    )
    site.plugin("store", code=code)
    site.plugin("app", code=APP, requires=["jaf-plugin-store"])
    host = make_host(approve=True)

    async def scenario() -> None:
        async with host:
            store = host.loaded("store")
            assert store is not None and store.status == "broken"
            assert "connecting store.cache failed: ConnectionError: cache down" in (
                store.error or ""
            )
            app = host.loaded("app")
            assert app is not None and app.status == "blocked"

    asyncio.run(scenario())
    assert journal.read_text().split("\n")[:-1] == [
        "initialize",
        "connect db",
        "connect cache",
        "deactivate",
        "close db",
    ]


def test_doctor_runs_health_checks(site: Site, home: Path, journal: Path) -> None:
    site.plugin("store", code=STORE)
    env = {"JAF_TEST_JOURNAL": str(journal)}
    assert run_cli("enable", "store", "--yes", site=site, home=home, env=env).returncode == 0
    healthy = run_cli("doctor", "--json", site=site, home=home, env=env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    (store,) = [p for p in json.loads(healthy.stdout)["plugins"] if p["name"] == "store"]
    assert store["integrations"] == [
        {"name": "store.db", "checked": True, "problem": None},
        {"name": "store.cache", "checked": False, "problem": None},
    ]
    sick = run_cli("doctor", "--json", site=site, home=home, env={**env, "STORE_SICK": "1"})
    assert sick.returncode == 1
    (store,) = [p for p in json.loads(sick.stdout)["plugins"] if p["name"] == "store"]
    assert store["problem"] == "integration store.db reports it is unhealthy"
