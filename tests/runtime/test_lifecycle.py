"""The lifecycle: import, register, configure, initialize, activate, deactivate.

Every plugin here is a real distribution on a temporary path; each writes the hooks
it runs into a journal file so the tests see exactly what the host called.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import INPROCESS_CONFIG, Site, run_cli
from jafhost.host.host import Host

# the lifecycle as the host runs it in process: the journal variable and module state
# are shared with the test (a worker runs the same lifecycle: tests/runtime/test_worker.py)
pytestmark = pytest.mark.usefixtures("inprocess")

MakeHost = Callable[..., Host]

JOURNAL = """
import os, pathlib, time, asyncio, sys
def note(what):
    with open(os.environ["JAF_TEST_JOURNAL"], "a") as f:
        f.write(__name__.removeprefix("jp_").rsplit("_", 1)[0] + ":" + what + "\\n")
"""


def lifecycle_code(fail: str | None = None, how: str = "raise", asynchronous: bool = False) -> str:
    """Plugin source whose hook ``fail`` raises or hangs; the others journal themselves."""
    parts = [JOURNAL]
    if fail == "import":
        parts.append("raise RuntimeError('boom at import')" if how == "raise" else "time.sleep(60)")
    for hook in ("jaf_initialize", "jaf_activate", "jaf_deactivate"):
        body = f"    note('{hook}')\n"
        if hook == fail:
            body += (
                "    raise RuntimeError('boom in " + hook + "')\n"
                if how == "raise"
                else ("    await asyncio.sleep(60)\n" if asynchronous else "    time.sleep(60)\n")
            )
        prefix = "async def" if asynchronous else "def"
        parts.append(f"@hookimpl\n{prefix} {hook}(ctx):\n{body}")
    return "\n".join(parts)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site) -> Path:
    """The file plugins write the hooks they run into; every plugin made in these tests
    is granted write access to its folder (the guard would deny it otherwise)."""
    folder = tmp_path / "journal"
    folder.mkdir()
    path = folder / "journal.txt"
    path.write_text("")
    monkeypatch.setenv("JAF_TEST_JOURNAL", str(path))
    site.default_manifest = f'[permissions]\nwrite = ["{folder}"]\nenv = ["JAF_TEST_JOURNAL"]\n'
    return path


@pytest.fixture
def make_host(make_host: MakeHost, journal: Path) -> MakeHost:
    """Hosts whose plugins' journal grants are already approved."""

    def build(**kwargs: object) -> Host:
        return make_host(approve=True, **kwargs)

    return build


def _lines(journal: Path) -> list[str]:
    return journal.read_text().split()


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_lifecycle_order_and_reverse_shutdown(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    site.plugin("base", code=lifecycle_code())
    site.plugin("mid", code=lifecycle_code(asynchronous=True), requires=["jaf-plugin-base"])
    site.plugin("top", code=lifecycle_code(), requires=["jaf-plugin-mid"])
    host = make_host()

    async def scenario() -> list[str]:
        async with host:
            assert host.active == ["base", "mid", "top"]
            assert all(host.loaded(n).status == "active" for n in host.active)  # type: ignore[union-attr]
            return list(host.active)

    _run(scenario())
    assert _lines(journal) == [
        "base:jaf_initialize",
        "base:jaf_activate",
        "mid:jaf_initialize",
        "mid:jaf_activate",
        "top:jaf_initialize",
        "top:jaf_activate",
        "top:jaf_deactivate",
        "mid:jaf_deactivate",
        "base:jaf_deactivate",
    ]
    assert host.active == []


FAILURES = [
    (hook, how, asynchronous)
    for hook in ("import", "jaf_initialize", "jaf_activate")
    for how in ("raise", "hang")
    for asynchronous in ((False,) if hook == "import" else (False, True))
]


@pytest.mark.parametrize("hook,how,asynchronous", FAILURES)
def test_failing_plugin_is_broken_and_isolated(
    site: Site, make_host: MakeHost, journal: Path, hook: str, how: str, asynchronous: bool
) -> None:
    site.plugin("good", code=lifecycle_code())
    site.plugin("bad", code=lifecycle_code(hook, how, asynchronous))
    site.plugin("child", code=lifecycle_code(), requires=["jaf-plugin-bad"])
    host = make_host(hook_timeout=0.5)

    async def scenario() -> None:
        await host.activate_all()
        bad = host.loaded("bad")
        assert bad is not None and bad.status == "broken"
        assert bad.error is not None and bad.error.startswith(hook)
        assert ("timed out after 0.5 s" if how == "hang" else "boom") in bad.error
        child = host.loaded("child")
        assert child is not None and child.status == "blocked"
        assert child.error is not None and child.error.startswith(
            "needs plugin bad, which is broken"
        )
        assert host.active == ["good"]
        await host.deactivate_all()

    _run(scenario())
    lines = _lines(journal)
    assert "good:jaf_activate" in lines and "good:jaf_deactivate" in lines
    assert not any(line.startswith("child:") for line in lines)
    bad = [line for line in lines if line.startswith("bad:")]
    if hook == "jaf_activate":
        # what initialize set up is torn down
        assert bad == ["bad:jaf_initialize", "bad:jaf_activate", "bad:jaf_deactivate"]
    elif hook == "jaf_initialize":
        assert bad == ["bad:jaf_initialize"]
    else:
        assert bad == []
    assert not host.pm.has_plugin("bad")


def test_deactivate_that_raises_or_hangs_does_not_stop_shutdown(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    site.plugin("first", code=lifecycle_code())
    site.plugin(
        "raiser", code=lifecycle_code("jaf_deactivate", "raise"), requires=["jaf-plugin-first"]
    )
    site.plugin(
        "hanger", code=lifecycle_code("jaf_deactivate", "hang"), requires=["jaf-plugin-raiser"]
    )
    host = make_host(hook_timeout=0.3)

    async def scenario() -> None:
        async with host:
            assert host.active == ["first", "raiser", "hanger"]

    _run(scenario())
    assert _lines(journal)[-3:] == [
        "hanger:jaf_deactivate",
        "raiser:jaf_deactivate",
        "first:jaf_deactivate",
    ]


def test_plugin_calling_sys_exit_does_not_end_the_host(site: Site, make_host: MakeHost) -> None:
    site.plugin("quitter", code="@hookimpl\ndef jaf_initialize(ctx):\n    raise SystemExit(3)\n")
    site.plugin("fine")
    host = make_host()

    async def scenario() -> None:
        await host.activate_all()
        quitter = host.loaded("quitter")
        assert quitter is not None and quitter.status == "broken"
        assert quitter.error == "jaf_initialize failed: plugin quitter raised SystemExit: 3"
        assert host.active == ["fine"]

    _run(scenario())


def test_unknown_hook_and_bad_arguments_are_rejected(site: Site, make_host: MakeHost) -> None:
    site.plugin("typo", code="@hookimpl\ndef jaf_initialise(ctx):\n    pass\n")
    site.plugin("extra", code="@hookimpl\ndef jaf_activate(ctx, other):\n    pass\n")
    host = make_host()

    async def scenario() -> None:
        await host.activate_all()
        typo, extra = host.loaded("typo"), host.loaded("extra")
        assert typo is not None and typo.status == "broken"
        assert typo.error == (
            "@hookimpl function jaf_initialise is not a jafhost hook; did you mean jaf_initialize?"
        )
        assert extra is not None and extra.status == "broken"
        assert "other" in (extra.error or "") and "jaf_activate" in (extra.error or "")

    _run(scenario())


CONFIG_PLUGIN = """
from pydantic import BaseModel, Field

class Settings(BaseModel):
    greeting: str = "hello"
    retries: int = Field(3, ge=0, le=10)

@hookimpl
def jaf_config_schema():
    return Settings

@hookimpl
def jaf_initialize(ctx):
    import os
    with open(os.environ["JAF_TEST_JOURNAL"], "a") as f:
        f.write(f"config:{ctx.config.greeting}:{ctx.config.retries}:{ctx.data_dir.is_dir()}\\n")
"""


def test_config_is_validated_and_schema_recorded(
    site: Site, make_host: MakeHost, home: Path, journal: Path
) -> None:
    site.plugin("conf", code=CONFIG_PLUGIN)
    (home / "config.toml").write_text(
        INPROCESS_CONFIG + '[plugins.conf]\ngreeting = "hi"\nretries = 5\n'
    )
    host = make_host()

    async def scenario() -> None:
        async with host:
            assert host.active == ["conf"]

    _run(scenario())
    assert _lines(journal) == ["config:hi:5:True"]
    schema = host.recorded_config_schema("conf")
    assert schema["properties"]["retries"]["maximum"] == 10


def test_invalid_config_names_plugin_and_field(
    site: Site, make_host: MakeHost, home: Path, journal: Path
) -> None:
    site.plugin("conf", code=CONFIG_PLUGIN)
    site.plugin("other")
    (home / "config.toml").write_text(INPROCESS_CONFIG + "[plugins.conf]\nretries = 99\n")
    host = make_host()

    async def scenario() -> None:
        await host.activate_all()
        conf = host.loaded("conf")
        assert conf is not None and conf.status == "broken"
        assert conf.error is not None
        assert conf.error.startswith("config [plugins.conf] retries:")
        assert host.active == ["other"]

    _run(scenario())
    assert _lines(journal) == []


def test_info_shows_config_schema_recorded_at_an_earlier_load(
    site: Site, home: Path, journal: Path
) -> None:
    site.plugin("conf", code=CONFIG_PLUGIN)
    env = {"JAF_TEST_JOURNAL": str(journal)}
    before = json.loads(run_cli("info", "conf", "--json", site=site, home=home).stdout)
    assert run_cli("enable", "conf", "--yes", site=site, home=home).returncode == 0
    assert before["config_schema"] is None
    assert run_cli("doctor", site=site, home=home, env=env).returncode == 0
    after = json.loads(run_cli("info", "conf", "--json", site=site, home=home).stdout)
    assert after["config_schema"]["properties"]["greeting"]["default"] == "hello"


def test_activate_and_deactivate_one_plugin_with_its_relatives(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    site.plugin("base", code=lifecycle_code())
    site.plugin("top", code=lifecycle_code(), requires=["jaf-plugin-base"])
    host = make_host()

    async def scenario() -> None:
        await host.activate("top")  # brings base up first
        assert host.active == ["base", "top"]
        await host.deactivate("base")  # takes top down first
        assert host.active == []

    _run(scenario())
    assert _lines(journal) == [
        "base:jaf_initialize",
        "base:jaf_activate",
        "top:jaf_initialize",
        "top:jaf_activate",
        "top:jaf_deactivate",
        "base:jaf_deactivate",
    ]


def test_disabled_and_unapproved_plugins_never_run(
    site: Site, make_host: MakeHost, journal: Path
) -> None:
    site.plugin("off", code=lifecycle_code())
    site.plugin("asks", code=lifecycle_code(), manifest='[permissions]\nenv = ["HOME"]\n')
    host = make_host()
    host.disable(["off"])

    async def scenario() -> None:
        await host.activate_all()
        assert host.active == []

    _run(scenario())
    assert _lines(journal) == []


def test_class_entry_point_is_instantiated(site: Site, make_host: MakeHost, journal: Path) -> None:
    code = JOURNAL + (
        "class Plugin:\n"
        "    @hookimpl\n"
        "    def jaf_activate(self, ctx):\n"
        "        note('class-activate')\n"
    )
    module = site.plugin("klass", code=code, entry_point=f"{site.module_for('klass')}:Plugin")
    assert module
    host = make_host()

    async def scenario() -> None:
        async with host:
            assert host.active == ["klass"]

    _run(scenario())
    assert _lines(journal) == ["klass:class-activate"]


def test_hung_sync_hook_does_not_keep_the_process_alive(
    site: Site, home: Path, journal: Path
) -> None:
    site.plugin("stuck", code=lifecycle_code("jaf_initialize", "hang"))
    (home / "config.toml").write_text('[host]\nisolation = "inprocess"\nhook_timeout = 0.5\n')
    assert run_cli("enable", "stuck", "--yes", site=site, home=home).returncode == 0
    result = run_cli(
        "doctor", "--json", site=site, home=home, env={"JAF_TEST_JOURNAL": str(journal)}, timeout=30
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    (stuck,) = [p for p in report["plugins"] if p["name"] == "stuck"]
    assert stuck["runtime"] == "broken"
    assert stuck["problem"] == "jaf_initialize timed out after 0.5 s"
    assert os.environ.get("JAF_TEST_JOURNAL") == str(journal)
