"""Resolution: statuses, reasons and activation order, on real dist-info."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import Site
from jafhost.discovery.records import PluginInfo
from jafhost.discovery.resolve import resolve_plugins
from jafhost.host.host import Host

MakeHost = Callable[..., Host]


def _status(host: Host) -> dict[str, tuple[str, str | None]]:
    return {v.name: (v.status, v.reason) for v in host.plugins()}


def _info(
    name: str, requires: tuple[str, ...] = (), version: str = "1.0.0", extras: tuple[str, ...] = ()
) -> PluginInfo:
    return PluginInfo(
        name=name,
        distribution=f"jaf-plugin-{name}",
        version=version,
        entry_point=name,
        requires=requires,
        extras=extras,
    )


def _enabled(_: PluginInfo) -> tuple[str, None]:
    return "enabled", None


def test_dependencies_first_in_activation_order() -> None:
    plugins = [
        _info("app", ("jaf-plugin-search>=1", "jaf-plugin-auth")),
        _info("search", ("jaf-plugin-store",)),
        _info("store"),
        _info("auth", ("jaf-plugin-store",)),
        _info("lonely"),
    ]
    resolution = resolve_plugins(plugins, {}, "0.1.0", _enabled)
    order = resolution.order
    assert set(order) == {"app", "search", "store", "auth", "lonely"}
    assert order.index("store") < order.index("search") < order.index("app")
    assert order.index("store") < order.index("auth") < order.index("app")
    assert resolution.dependents("store") == ["app", "auth", "search"]


def test_missing_and_wrong_version_dependency(site: Site, make_host: MakeHost) -> None:
    site.plugin("notes", version="1.4.0")
    site.plugin("search", requires=["jaf-plugin-notes>=2.0"])
    site.plugin("ghost", requires=["jaf-plugin-nowhere>=1"])
    status = _status(make_host())
    assert status["notes"] == ("enabled", None)
    assert status["search"] == (
        "unresolved",
        "needs jaf-plugin-notes>=2.0 (plugin notes); installed 1.4.0",
    )
    assert status["ghost"] == ("unresolved", "needs jaf-plugin-nowhere>=1; not installed")


def test_host_requirement(site: Site, make_host: MakeHost) -> None:
    site.plugin("future", requires=["jafhost>=9"])
    site.plugin("current", requires=["jafhost>=0.1,<1"])
    status = _status(make_host())
    assert status["future"][0] == "unresolved"
    assert status["future"][1] is not None and "jafhost>=9" in status["future"][1]
    assert status["current"] == ("enabled", None)


def test_cycle_names_the_path(site: Site, make_host: MakeHost) -> None:
    site.plugin("a", requires=["jaf-plugin-b"])
    site.plugin("b", requires=["jaf-plugin-c"])
    site.plugin("c", requires=["jaf-plugin-a"])
    site.plugin("d", requires=["jaf-plugin-a"])
    status = _status(make_host())
    assert status["a"] == ("unresolved", "cycle: a -> b -> c -> a")
    assert status["b"] == ("unresolved", "cycle: b -> c -> a -> b")
    assert status["d"] == ("unresolved", "needs plugin a, which is unresolved")


def test_self_dependency_is_a_cycle(site: Site, make_host: MakeHost) -> None:
    site.plugin("me", requires=["jaf-plugin-me"])
    assert _status(make_host())["me"] == ("unresolved", "cycle: me -> me")


def test_disabled_or_unapproved_dependency(site: Site, make_host: MakeHost) -> None:
    site.plugin("net", manifest='[permissions]\nnet = ["127.0.0.1"]\n')
    site.plugin("user", requires=["jaf-plugin-net"])
    host = make_host()
    assert _status(host)["user"] == ("unresolved", "needs plugin net, which is needs-approval")
    host.enable(["net"], approve=lambda info, new: True, dependencies=False)
    assert _status(host)["user"] == ("enabled", None)
    host.disable(["net"])
    assert _status(host)["user"] == ("unresolved", "needs plugin net, which is disabled")


def test_dependency_on_invalid_plugin(site: Site, make_host: MakeHost) -> None:
    site.plugin("broken", manifest="[permissions]\nnett = []\n")
    site.plugin("user", requires=["jaf-plugin-broken"])
    status = _status(make_host())
    assert status["broken"][0] == "invalid"
    assert status["user"] == ("unresolved", "needs plugin broken, which is invalid")


def test_bad_requirement_makes_plugin_invalid(site: Site, make_host: MakeHost) -> None:
    site.plugin("typo", requires=["jaf-plugin-notes>>1.0"])
    status, reason = _status(make_host())["typo"]
    assert status == "invalid"
    assert reason is not None and "jaf-plugin-notes>>1.0" in reason and "Requires-Dist" in reason


def test_optional_dependency_orders_but_never_blocks(site: Site, make_host: MakeHost) -> None:
    site.plugin("cache")
    site.plugin(
        "app",
        extras=["cache", "extra2"],
        requires=['jaf-plugin-cache; extra == "cache"', 'jaf-plugin-missing>=1; extra == "extra2"'],
    )
    host = make_host()
    resolution = host.resolution()
    assert _status(host)["app"] == ("enabled", None)
    assert resolution.order.index("cache") < resolution.order.index("app")
    host.disable(["cache"])
    assert _status(host)["app"] == ("enabled", None)
    assert host.resolution().order == ["app"]


def test_environment_markers_are_evaluated(site: Site, make_host: MakeHost) -> None:
    site.plugin("app", requires=['jaf-plugin-never; python_version < "3.0"'])
    assert _status(make_host())["app"] == ("enabled", None)


def test_library_requirement_checked(site: Site, make_host: MakeHost) -> None:
    site.distribution("somelib", "1.2.0")
    site.plugin("ok", requires=["somelib>=1"])
    site.plugin("tooold", requires=["somelib>=2"])
    site.plugin("nolib", requires=["otherlib"])
    status = _status(make_host())
    assert status["ok"] == ("enabled", None)
    assert status["tooold"] == ("unresolved", "needs somelib>=2; installed 1.2.0")
    assert status["nolib"] == ("unresolved", "needs otherlib; not installed")


@pytest.mark.parametrize("spec,ok", [(">=1.0.0rc1", True), ("==1.0.*", True), ("~=0.9", False)])
def test_specifiers_follow_packaging(site: Site, make_host: MakeHost, spec: str, ok: bool) -> None:
    site.plugin("base", version="1.0.0")
    site.plugin("user", requires=[f"jaf-plugin-base{spec}"])
    assert (_status(make_host())["user"][0] == "enabled") is ok
