"""Host: enabling, approving, upgrading and disabling plugins against real state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Site
from jafhost.discovery.records import PluginInfo
from jafhost.errors import PluginError, UsageError
from jafhost.home.config import PLATFORM_ISOLATION
from jafhost.hookspecs import hookimpl
from jafhost.host.host import Host

MakeHost = Callable[..., Host]
NET = '[permissions]\nnet = ["127.0.0.1:8080"]\n'
NET_AND_ENV = '[permissions]\nnet = ["127.0.0.1:8080"]\nenv = ["TOKEN"]\n'


class Approver:
    """Records what it was asked and answers ``answer``."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.asked: list[tuple[str, list[str]]] = []

    def __call__(self, info: PluginInfo, new: list[str]) -> bool:
        self.asked.append((info.name, new))
        return self.answer


def _status(host: Host, name: str) -> str:
    return host.plugin(name).status


def test_no_permission_plugin_is_enabled_when_first_seen(site: Site, make_host: MakeHost) -> None:
    site.plugin("plain")
    site.plugin("asks", manifest=NET)
    host = make_host()
    assert _status(host, "plain") == "enabled"
    view = host.plugin("asks")
    assert view.status == "needs-approval"
    assert view.reason == "requests permissions: net:127.0.0.1:8080"


def test_enable_asks_grants_and_records_version(site: Site, make_host: MakeHost) -> None:
    site.plugin("asks", manifest=NET, version="1.2.0")
    host = make_host()
    approve = Approver()
    assert host.enable(["asks"], approve=approve) == ["asks"]
    assert approve.asked == [("asks", ["net:127.0.0.1:8080"])]
    view = host.plugin("asks")
    assert view.status == "enabled"
    assert view.granted == ["net:127.0.0.1:8080"]
    assert view.granted_version == "1.2.0"
    # enabling again asks nothing
    again = Approver()
    host.enable(["asks"], approve=again)
    assert again.asked == []


def test_refusal_or_no_policy_changes_nothing(site: Site, make_host: MakeHost, home: Path) -> None:
    site.plugin("asks", manifest=NET)
    host = make_host()
    with pytest.raises(PluginError, match="permissions not approved"):
        host.enable(["asks"], approve=Approver(False))
    with pytest.raises(PluginError, match=r"net:127\.0\.0\.1:8080"):
        host.enable(["asks"])
    assert _status(host, "asks") == "needs-approval"
    assert not (home / "state.json").exists()


def test_upgrade_requesting_more_needs_approval_for_the_new_only(
    site: Site, make_host: MakeHost
) -> None:
    module = site.plugin("asks", manifest=NET, version="1.0.0")
    host = make_host()
    host.enable(["asks"], approve=Approver())
    site.remove("jaf-plugin-asks")
    site.plugin("asks", manifest=NET_AND_ENV, version="1.1.0", module=module)
    host = make_host()
    view = host.plugin("asks")
    assert view.status == "needs-approval"
    assert view.reason == ("version 1.1.0 requests permissions not approved at 1.0.0: env:TOKEN")
    approve = Approver()
    host.enable(["asks"], approve=approve)
    assert approve.asked == [("asks", ["env:TOKEN"])]
    assert host.plugin("asks").granted_version == "1.1.0"

    # a downgrade that requests less stays enabled, grants are kept
    site.remove("jaf-plugin-asks")
    site.plugin("asks", manifest=NET, version="0.9.0", module=module)
    host = make_host()
    view = host.plugin("asks")
    assert view.status == "enabled"
    assert view.granted == ["env:TOKEN", "net:127.0.0.1:8080"]


def test_upgrade_requesting_nothing_new_stays_enabled(site: Site, make_host: MakeHost) -> None:
    module = site.plugin("asks", manifest=NET_AND_ENV, version="1.0.0")
    make_host().enable(["asks"], approve=Approver())
    site.remove("jaf-plugin-asks")
    site.plugin("asks", manifest=NET, version="2.0.0", module=module)
    assert _status(make_host(), "asks") == "enabled"


def test_enable_brings_required_plugins_along(site: Site, make_host: MakeHost) -> None:
    site.plugin("store", manifest='[permissions]\nwrite = ["/tmp/jaf-store"]\n')
    site.plugin("search", requires=["jaf-plugin-store"])
    host = make_host()
    assert _status(host, "search") == "unresolved"
    approve = Approver()
    assert host.enable(["search"], approve=approve) == ["store", "search"]
    assert approve.asked == [("store", ["write:/tmp/jaf-store"])]
    assert _status(host, "search") == "enabled"


def test_disable_reports_dependents_that_become_unresolved(site: Site, make_host: MakeHost) -> None:
    site.plugin("store")
    site.plugin("search", requires=["jaf-plugin-store"])
    site.plugin("app", requires=["jaf-plugin-search"])
    host = make_host()
    assert host.disable(["store"]) == {"store": ["app", "search"]}
    assert host.plugin("search").reason == "needs plugin store, which is disabled"
    assert host.plugin("app").reason == "needs plugin search, which is unresolved"
    host.enable(["store"])
    assert _status(host, "app") == "enabled"


def test_enable_invalid_or_unknown(site: Site, make_host: MakeHost) -> None:
    site.plugin("bad", manifest="[permisions]\n")
    site.plugin("good")
    host = make_host()
    with pytest.raises(PluginError, match="invalid"):
        host.enable(["bad"])
    with pytest.raises(UsageError, match=r"unknown plugin 'nope' \(known: bad, good\)"):
        host.enable(["nope"])
    with pytest.raises(UsageError, match="isolation"):
        host.enable(["good"], isolation="vm")


def test_isolation_is_kept_in_state(site: Site, make_host: MakeHost) -> None:
    site.plugin("plain")
    host = make_host()
    assert host.plugin("plain").isolation == PLATFORM_ISOLATION  # process on Linux
    host.enable(["plain"], isolation="inprocess")  # an explicit trust decision
    assert make_host().plugin("plain").isolation == "inprocess"
    host.enable(["plain"], isolation="process")
    assert make_host().plugin("plain").isolation == "process"


def test_a_plugin_registered_in_memory_runs_in_process(make_host: MakeHost) -> None:
    class Mem:
        @hookimpl
        def jaf_tools(self) -> list[Any]:
            def hello() -> str:
                return "hi"

            return [hello]

    host = make_host()
    host.register(Mem(), name="mem")
    assert host.plugin("mem").isolation == "inprocess"
    assert [v.isolation for v in host.plugins() if v.name == "mem"] == ["inprocess"]


def test_grant_and_revoke_narrow_the_grants(site: Site, make_host: MakeHost) -> None:
    site.plugin("wide", manifest='[permissions]\nnet = ["*"]\n')
    host = make_host()
    host.enable(["wide"], approve=Approver())
    assert host.revoke("wide", "net:*") == "net:*"
    assert host.grant("wide", "net:API.example.com:443") == "net:api.example.com:443"
    view = host.plugin("wide")
    assert view.status == "enabled"
    assert view.granted == ["net:api.example.com:443"]


def test_only_limits_the_host_to_named_plugins(site: Site, home: Path) -> None:
    site.plugin("one")
    site.plugin("two")
    host = Host(home, paths=[str(site.root)], only=["two"])
    assert [v.name for v in host.plugins()] == ["two"]
