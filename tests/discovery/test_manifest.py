"""jaf-plugin.toml: strict parsing, errors naming file and field, plugin names, discovery."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.discovery.manifest import (
    MANIFEST_NAME,
    Manifest,
    check_plugin_name,
    manifest_candidates,
    parse_manifest,
    read_manifest,
)
from jafhost.errors import ManifestError, PluginError

PATH = "/site/jp_demo/jaf-plugin.toml"


@pytest.fixture(autouse=True)
def user_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/tester")


def parse(text: str) -> Manifest:
    return parse_manifest(textwrap.dedent(text), PATH)


# -- valid manifests ----------------------------------------------------------------------


def test_the_design_example() -> None:
    manifest = parse(
        """
        [plugin]
        kinds = ["tool", "integration"]      # tool | agent | integration | capability | event

        [permissions]
        read  = ["~/notes", "$PLUGIN_DATA"]
        write = ["$PLUGIN_DATA"]
        net   = ["api.open-meteo.com:443", "127.0.0.1:*", "*.example.com"]
        env   = ["WEATHER_API_KEY"]
        run   = ["git"]
        ffi   = false
        """
    )
    assert manifest == Manifest(
        kinds=("tool", "integration"),
        permissions=(
            "env:WEATHER_API_KEY",
            "net:*.example.com:*",
            "net:127.0.0.1:*",
            "net:api.open-meteo.com:443",
            "read:$PLUGIN_DATA",
            "read:/home/tester/notes",
            "run:git",
            "write:$PLUGIN_DATA",
        ),
        path=PATH,
    )


def test_empty_manifest_requests_nothing() -> None:
    assert parse("") == Manifest(kinds=(), permissions=(), path=PATH)


def test_activation_is_lazy_unless_eager_is_asked() -> None:
    assert parse("").activation == "lazy"
    assert parse('[plugin]\nactivation = "eager"\n').activation == "eager"
    assert parse('[plugin]\nactivation = "lazy"\n').activation == "lazy"
    assert parse("[plugin]\n[permissions]\n") == Manifest(path=PATH)


def test_every_kind_and_duplicates_collapse() -> None:
    manifest = parse(
        """
        [plugin]
        kinds = ["event", "tool", "agent", "tool", "capability", "integration"]
        """
    )
    assert manifest.kinds == ("event", "tool", "agent", "capability", "integration")
    assert manifest.permissions == ()


def test_permissions_are_canonical_and_deduplicated() -> None:
    manifest = parse(
        """
        [permissions]
        net = ["Example.COM", "example.com:*", "[::1]:80", "::1"]
        read = ["/data/x/", "/data/./x"]
        run = ["/usr/bin/../bin/git"]
        env = ["AWS_*"]
        ffi = true
        """
    )
    assert manifest.permissions == (
        "env:AWS_*",
        "ffi",
        "net:[::1]:*",
        "net:[::1]:80",
        "net:example.com:*",
        "read:/data/x",
        "run:/usr/bin/git",
    )


def test_inline_tables_are_tables() -> None:
    manifest = parse('plugin = { kinds = ["tool"] }\npermissions = { env = ["KEY"] }\n')
    assert manifest.kinds == ("tool",)
    assert manifest.permissions == ("env:KEY",)


# -- invalid manifests --------------------------------------------------------------------

INVALID = [
    ("bad-toml", "x = [", ["invalid TOML"]),
    ("bad-toml-table", "[permissions\nread = []", ["invalid TOML"]),
    ("typo-table", '[permisions]\nread = ["/data"]\n', ["permisions", "unknown key"]),
    ("typo-inline", 'permisions = { read = ["/data"] }\n', ["permisions", "unknown key"]),
    ("unknown-top-level", "[tool]\nx = 1\n", ["tool", "unknown key"]),
    ("unknown-plugin-key", '[plugin]\nauthor = "demo"\n', ["plugin.author", "unknown key"]),
    (
        "folder-only-plugin-key",
        '[plugin]\nname = "demo"\n',
        ["plugin.name", "only a folder plugin's manifest"],
    ),
    (
        "unknown-kind-of-permission",
        '[permissions]\nexec = ["sh"]\n',
        ["permissions.exec", "unknown permission kind"],
    ),
    (
        "typo-kind-of-permission",
        '[permissions]\nreads = ["/data"]\n',
        ["permissions.reads", "unknown permission kind"],
    ),
    ("string-not-list", '[permissions]\nread = "~/notes"\n', ["permissions.read", "list"]),
    ("relative-path", '[permissions]\nread = ["notes"]\n', ["permissions.read[0]", "relative"]),
    (
        "relative-path-second",
        '[permissions]\nwrite = ["/ok", "data/x"]\n',
        ["permissions.write[1]", "relative"],
    ),
    (
        "escaping-plugin-data",
        '[permissions]\nwrite = ["$PLUGIN_DATA/../x"]\n',
        ["permissions.write[0]"],
    ),
    ("port-zero", '[permissions]\nnet = ["example.com:0"]\n', ["permissions.net[0]", "port"]),
    (
        "port-too-big",
        '[permissions]\nnet = ["example.com:65536"]\n',
        ["permissions.net[0]", "port"],
    ),
    (
        "port-name",
        '[permissions]\nnet = ["ok.example.com", "example.com:http"]\n',
        ["permissions.net[1]", "port"],
    ),
    ("bad-host", '[permissions]\nnet = ["exa mple.com"]\n', ["permissions.net[0]", "host"]),
    ("number-not-string", "[permissions]\nnet = [443]\n", ["permissions.net[0]"]),
    ("bad-env", '[permissions]\nenv = ["API-KEY"]\n', ["permissions.env[0]", "environment"]),
    ("bad-run", '[permissions]\nrun = ["git status"]\n', ["permissions.run[0]", "program"]),
    ("ffi-string", '[permissions]\nffi = "yes"\n', ["permissions.ffi"]),
    ("ffi-number", "[permissions]\nffi = 1\n", ["permissions.ffi"]),
    ("ffi-list", "[permissions]\nffi = [true]\n", ["permissions.ffi"]),
    (
        "unknown-plugin-kind",
        '[plugin]\nkinds = ["tool", "widget"]\n',
        ["plugin.kinds[1]", "widget"],
    ),
    ("kinds-string", '[plugin]\nkinds = "tool"\n', ["plugin.kinds"]),
    (
        "unknown-activation",
        '[plugin]\nactivation = "sometimes"\n',
        ["plugin.activation", "'sometimes' is not lazy or eager"],
    ),
    ("activation-not-string", "[plugin]\nactivation = true\n", ["plugin.activation"]),
    ("activation-typo", '[plugin]\nactivaton = "eager"\n', ["plugin.activaton", "unknown key"]),
    ("permissions-not-table", "permissions = 5\n", ["permissions"]),
    ("plugin-not-table", 'plugin = "demo"\n', ["plugin"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_manifests_name_the_file_and_field(text: str, expected: list[str]) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, PATH)
    message = str(caught.value)
    assert message.startswith(f"{PATH}: "), message
    for part in expected:
        assert part in message, message


def test_a_typo_never_silently_drops_permissions() -> None:
    # a plugin whose author misspelt the table must not come out as requesting nothing
    with pytest.raises(ManifestError):
        parse('[permisions]\nread = ["~/.ssh"]\n')
    with pytest.raises(ManifestError):
        parse('[permissions]\nred = ["~/.ssh"]\n')


# -- reading from disk --------------------------------------------------------------------


def test_read_manifest_takes_the_first_that_exists(tmp_path: Path) -> None:
    missing = tmp_path / "a" / MANIFEST_NAME
    present = tmp_path / "b" / MANIFEST_NAME
    present.parent.mkdir()
    present.write_text('[permissions]\nenv = ["KEY"]\n')
    manifest = read_manifest([missing, present])
    assert manifest.permissions == ("env:KEY",)
    assert manifest.path == str(present)
    assert read_manifest([missing]) == Manifest()
    assert read_manifest([]) == Manifest()


def test_read_manifest_errors_name_the_real_path(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_NAME
    path.write_text('[permissions]\nnet = ["example.com:http"]\n')
    with pytest.raises(ManifestError, match=r"permissions\.net\[0\]") as caught:
        read_manifest([path])
    assert str(caught.value).startswith(f"{path}: ")
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ManifestError) as caught:
        read_manifest([path])
    assert str(path) in str(caught.value)


def test_manifest_candidates_import_nothing(site: Site) -> None:
    module = site.plugin(
        "loud",
        code="raise RuntimeError('plugin code ran')\n",
        manifest="[plugin]\nkinds = ['tool']\n",
    )
    candidates = manifest_candidates(f"{module}:plugin", [str(site.root)])
    assert candidates == [site.root / module / MANIFEST_NAME]
    assert module not in sys.modules
    assert manifest_candidates("no_such_module_xyz", [str(site.root)]) == []
    (site.root / "plain_module_xyz.py").write_text("")
    assert manifest_candidates("plain_module_xyz", [str(site.root)]) == []


# -- plugin names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["notes-search", "a1_b2", "a", "weather", "x-y_z", "9lives", "notes-search-2"]
)
def test_allowed_plugin_names(name: str) -> None:
    assert check_plugin_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "Notes",
        "a__b",
        "-a",
        "a-",
        "a--b",
        "",
        "_a",
        "a_",
        "a-_b",
        "a b",
        "notes.search",
        "notes\n",
        "nötes",
        "a/b",
    ],
)
def test_rejected_plugin_names(name: str) -> None:
    with pytest.raises(ManifestError, match="not allowed") as caught:
        check_plugin_name(name)
    assert repr(name) in str(caught.value)
    assert caught.value.plugin == name


# -- discovery: a bad manifest makes one plugin invalid, nothing else ------------------------

GOOD_MANIFEST = """
[plugin]
kinds = ["tool"]

[permissions]
net = ["api.example.com:443"]
"""


def test_bad_manifest_makes_only_that_plugin_invalid(site: Site, make_host) -> None:  # type: ignore[no-untyped-def]
    bomb = "raise RuntimeError('plugin code must not run while listing')\n"
    site.plugin("good", manifest=GOOD_MANIFEST, code=bomb)
    site.plugin("plain", code=bomb)
    typo = site.plugin("typo", manifest='[permisions]\nread = ["~/.ssh"]\n', code=bomb)
    port = site.plugin("badport", manifest='[permissions]\nnet = ["example.com:http"]\n', code=bomb)
    kind = site.plugin("badkind", manifest='[plugin]\nkinds = ["widget"]\n', code=bomb)
    when = site.plugin("badwhen", manifest='[plugin]\nactivation = "never"\n', code=bomb)

    views = {v.name: v for v in make_host().plugins()}
    assert set(views) == {"good", "plain", "typo", "badport", "badkind", "badwhen"}

    expectations = {
        "typo": (site.root / typo / MANIFEST_NAME, "permisions"),
        "badport": (site.root / port / MANIFEST_NAME, "permissions.net[0]"),
        "badkind": (site.root / kind / MANIFEST_NAME, "plugin.kinds[0]"),
        "badwhen": (site.root / when / MANIFEST_NAME, "plugin.activation"),
    }
    for name, (path, field) in expectations.items():
        view = views[name]
        assert view.status == "invalid", name
        assert view.reason is not None
        assert str(path) in view.reason, view.reason
        assert field in view.reason, view.reason
        assert view.info.permissions == ()

    assert views["good"].status == "needs-approval"
    assert views["good"].info.permissions == ("net:api.example.com:443",)
    assert views["good"].info.kinds == ("tool",)
    assert views["plain"].status == "enabled"
    assert views["plain"].info.permissions == ()
    assert not any(name.startswith("jp_") and site.tag in name for name in sys.modules)


def test_invalid_plugin_cannot_be_enabled(site: Site, make_host) -> None:  # type: ignore[no-untyped-def]
    site.plugin("typo", manifest='[permisions]\nread = ["/data"]\n')
    with pytest.raises(PluginError, match="invalid") as caught:
        make_host().enable(["typo"], approve=lambda info, new: True)
    assert "permisions" in str(caught.value)
    assert make_host().plugin("typo").status == "invalid"


def test_bad_plugin_name_is_invalid(site: Site, make_host) -> None:  # type: ignore[no-untyped-def]
    site.plugin("double__under")
    site.plugin("fine")
    views = {v.name: v for v in make_host().plugins()}
    assert views["double__under"].status == "invalid"
    assert "double__under" in (views["double__under"].reason or "")
    assert views["fine"].status == "enabled"


def test_fixing_the_manifest_makes_the_plugin_valid(site: Site, make_host) -> None:  # type: ignore[no-untyped-def]
    module = site.plugin("typo", manifest='[permisions]\nenv = ["TOKEN_VALUE"]\n')
    assert make_host().plugin("typo").status == "invalid"
    (site.root / module / MANIFEST_NAME).write_text('[permissions]\nenv = ["TOKEN"]\n')
    view = make_host().plugin("typo")
    assert view.status == "needs-approval"
    assert view.info.permissions == ("env:TOKEN",)


def test_cli_lists_the_invalid_plugin_with_its_reason(site: Site, home: Path) -> None:
    module = site.plugin("typo", manifest='[permisions]\nread = ["/data"]\n')
    site.plugin("fine")
    result = run_cli("list", "--json", site=site, home=home)
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["fine"]["status"] == "enabled"
    assert listed["fine"]["reason"] is None
    assert listed["typo"]["status"] == "invalid"
    assert str(site.root / module / MANIFEST_NAME) in listed["typo"]["reason"]
    assert "permisions" in listed["typo"]["reason"]
