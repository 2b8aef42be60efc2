"""The permission vocabulary: one canonical string per permission, strict parsing."""

from __future__ import annotations

import pytest

from jafhost.errors import PermissionSyntaxError
from jafhost.security import permissions
from jafhost.security.permissions import (
    Permission,
    canonical,
    make,
    missing,
    parse,
)


@pytest.fixture(autouse=True)
def user_home(monkeypatch: pytest.MonkeyPatch) -> str:
    """``~`` is the home of the user running the host: pin it for exact expectations."""
    monkeypatch.setenv("HOME", "/home/tester")
    return "/home/tester"


def text(kind: str, value: str = "") -> str:
    return str(make(kind, value))


# -- paths --------------------------------------------------------------------------------

PATHS = [
    ("~", "/home/tester"),
    ("~/notes", "/home/tester/notes"),
    ("~/notes/", "/home/tester/notes"),
    ("/data/notes/", "/data/notes"),
    ("/data/notes///", "/data/notes"),
    ("/data/a/../b/./c", "/data/b/c"),
    ("/data/a/..", "/data"),
    ("//data//x", "/data/x"),
    ("///data", "/data"),
    ("/", "/"),
    ("/..", "/"),
    ("  /data/x  ", "/data/x"),
    ("$PLUGIN_DATA", "$PLUGIN_DATA"),
    ("$PLUGIN_DATA/", "$PLUGIN_DATA"),
    ("$PLUGIN_DATA/.", "$PLUGIN_DATA"),
    ("$PLUGIN_DATA/cache/..", "$PLUGIN_DATA"),
    ("$PLUGIN_DATA/cache/", "$PLUGIN_DATA/cache"),
    ("$PLUGIN_DATA//a/./b/../c/", "$PLUGIN_DATA/a/c"),
    ("$PLUGIN_CACHE", "$PLUGIN_CACHE"),
    ("$PLUGIN_CACHE/x", "$PLUGIN_CACHE/x"),
]


@pytest.mark.parametrize(("raw", "expected"), PATHS)
@pytest.mark.parametrize("kind", ["read", "write"])
def test_path_canonical_forms(kind: str, raw: str, expected: str) -> None:
    assert make(kind, raw) == Permission(kind, expected)
    assert text(kind, raw) == f"{kind}:{expected}"


def test_plugin_data_stays_symbolic_even_when_set_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUGIN_DATA", "/somewhere/else")
    assert text("read", "$PLUGIN_DATA/x") == "read:$PLUGIN_DATA/x"


def test_tilde_follows_the_user_running_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/other")
    assert text("read", "~/notes") == "read:/home/other/notes"


def test_paths_are_distinct_by_whole_components() -> None:
    assert make("read", "/data/a") != make("read", "/data/ab")
    assert make("read", "/data/a/") == make("read", "/data/./a")


PATH_ERRORS = [
    ("notes", "relative"),
    ("./notes", "relative"),
    ("../x", "relative"),
    ("notes/~", "relative"),
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("$HOME/x", "unknown variable"),
    ("$PLUGIN_DATAX", "unknown variable"),
    ("$PLUGIN_DATA/../other", "out of $PLUGIN_DATA"),
    ("$PLUGIN_DATA/a/../../x", "out of $PLUGIN_DATA"),
    ("$PLUGIN_CACHE/..", "out of $PLUGIN_CACHE"),
]


@pytest.mark.parametrize(("raw", "message"), PATH_ERRORS)
def test_bad_paths(raw: str, message: str) -> None:
    with pytest.raises(PermissionSyntaxError, match=message.replace("$", r"\$")):
        make("read", raw)


# -- network ------------------------------------------------------------------------------

NET = [
    ("api.open-meteo.com:443", "api.open-meteo.com:443"),
    ("example.com", "example.com:*"),
    ("example.com:*", "example.com:*"),
    ("API.Example.COM", "api.example.com:*"),
    ("API.Example.COM:8080", "api.example.com:8080"),
    ("example.com.", "example.com:*"),
    ("example.com:0443", "example.com:443"),
    ("example.com:1", "example.com:1"),
    ("example.com:65535", "example.com:65535"),
    ("localhost", "localhost:*"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example:*"),
    ("*.example.com", "*.example.com:*"),
    ("*.Example.COM:443", "*.example.com:443"),
    ("127.0.0.1", "127.0.0.1:*"),
    ("127.0.0.1:*", "127.0.0.1:*"),
    ("10.0.0.1:8080", "10.0.0.1:8080"),
    ("::1", "[::1]:*"),
    ("[::1]", "[::1]:*"),
    ("[::1]:*", "[::1]:*"),
    ("[::1]:8080", "[::1]:8080"),
    ("2001:DB8:0:0::1", "[2001:db8::1]:*"),
    ("[2001:0db8:0000::0001]:443", "[2001:db8::1]:443"),
    ("*", "*"),
    ("  example.com  ", "example.com:*"),
]


@pytest.mark.parametrize(("raw", "expected"), NET)
def test_net_canonical_forms(raw: str, expected: str) -> None:
    assert text("net", raw) == f"net:{expected}"


def test_host_without_port_is_host_with_any_port() -> None:
    assert make("net", "example.com") == make("net", "example.com:*")
    assert text("net", "Example.com") == text("net", "example.com:*") == "net:example.com:*"
    assert make("net", "example.com") != make("net", "example.com:443")


def test_any_host() -> None:
    assert str(make("net", "*")) == "net:*"
    assert str(parse("net:*")) == "net:*"


NET_ERRORS = [
    ("example.com:0", "port"),
    ("example.com:65536", "port"),
    ("example.com:http", "port"),
    ("example.com:", "port"),
    ("example.com:-1", "port"),
    ("example.com:+80", "port"),
    ("example.com:\u00b2", "port"),  # a digit to str.isdigit, not to int()
    ("[::1]:0", "port"),
    ("[::1]8080", "port"),
    ("[::1", "unclosed"),
    ("[zz::1]", "IPv6"),
    ("exa mple.com", "host"),
    ("-bad.example.com", "host"),
    ("bad-.example.com", "host"),
    ("a..example.com", "host"),
    ("under_score.example.com", "host"),
    ("a.*.example.com", "host"),
    ("*.com", "wildcard"),
    ("example\n.com", "host"),
    ("a" * 64 + ".example.com", "host"),
    ("", "non-empty"),
]


@pytest.mark.parametrize(("raw", "message"), NET_ERRORS)
def test_bad_hosts_and_ports(raw: str, message: str) -> None:
    with pytest.raises(PermissionSyntaxError, match=message):
        make("net", raw)


def test_longest_label_is_accepted() -> None:
    assert text("net", "a" * 63 + ".example.com") == "net:" + "a" * 63 + ".example.com:*"


# -- environment, programs, ffi -----------------------------------------------------------


@pytest.mark.parametrize("name", ["WEATHER_API_KEY", "_PRIVATE", "path", "A1", "AWS_*", "A*", "*"])
def test_env_names_stay_as_written(name: str) -> None:
    assert text("env", name) == f"env:{name}"


@pytest.mark.parametrize(
    "name", ["", "1ABC", "A-B", "A B", "A*B", "**", "*A", "$HOME", "FOO\n", "A.B", "ÄPFEL"]
)
def test_bad_env_names(name: str) -> None:
    with pytest.raises(PermissionSyntaxError, match="environment variable"):
        make("env", name)


RUN = [
    ("git", "git"),
    ("  git ", "git"),
    ("python3.11", "python3.11"),
    ("/usr/bin/git", "/usr/bin/git"),
    ("/usr/bin/../bin/git", "/usr/bin/git"),
    ("/usr//local/bin/tool", "/usr/local/bin/tool"),
    ("~/bin/tool", "/home/tester/bin/tool"),
]


@pytest.mark.parametrize(("raw", "expected"), RUN)
def test_run_canonical_forms(raw: str, expected: str) -> None:
    assert text("run", raw) == f"run:{expected}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("git status", "program"),
        ("my program", "program"),
        ("/usr/bin/my tool", "program"),
        ("git\tx", "program"),
        ("", "program"),
        ("bin/git", "relative"),
        ("./git", "relative"),
        ("../bin/git", "relative"),
    ],
)
def test_bad_programs(raw: str, message: str) -> None:
    with pytest.raises(PermissionSyntaxError, match=message):
        make("run", raw)


def test_ffi() -> None:
    assert make("ffi") == Permission("ffi")
    assert str(make("ffi")) == "ffi"
    assert make("ffi", "true") == Permission("ffi")
    with pytest.raises(PermissionSyntaxError, match="ffi"):
        make("ffi", "yes")


@pytest.mark.parametrize("kind", ["exec", "READ", "Net", "", "file"])
def test_unknown_kind(kind: str) -> None:
    with pytest.raises(PermissionSyntaxError, match="unknown permission kind"):
        make(kind, "x")


def test_errors_are_value_errors() -> None:
    # callers (pydantic validators, the CLI) rely on this
    assert issubclass(PermissionSyntaxError, ValueError)


# -- the kind:value string form -----------------------------------------------------------

PARSE = [
    ("read:/data/x/", "read:/data/x"),
    ("read:~/notes", "read:/home/tester/notes"),
    (" write:$PLUGIN_DATA/cache/ ", "write:$PLUGIN_DATA/cache"),
    ("net:Example.com", "net:example.com:*"),
    ("net:example.com:443", "net:example.com:443"),
    ("net:[::1]:80", "net:[::1]:80"),
    ("net:::1", "net:[::1]:*"),
    ("net:*", "net:*"),
    ("net:*.example.com", "net:*.example.com:*"),
    ("env:AWS_*", "env:AWS_*"),
    ("run:git", "run:git"),
    ("run:/usr/bin/../bin/git", "run:/usr/bin/git"),
    ("ffi", "ffi"),
    ("ffi:", "ffi"),
    ("ffi:true", "ffi"),
]


@pytest.mark.parametrize(("raw", "expected"), PARSE)
def test_parse(raw: str, expected: str) -> None:
    parsed = parse(raw)
    assert isinstance(parsed, Permission)
    assert str(parsed) == expected
    assert parse(expected) == parsed  # canonical strings parse back to themselves


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("read", "kind:value"),
        ("net", "kind:value"),
        ("", "kind:value"),
        ("exec:/bin/sh", "unknown permission kind"),
        ("READ:/x", "unknown permission kind"),
        ("read:notes", "relative"),
        ("net:example.com:http", "port"),
        ("env:BAD-NAME", "environment variable"),
        ("run:rm -rf", "program"),
        ("ffi:false", "ffi"),
    ],
)
def test_parse_errors(raw: str, message: str) -> None:
    with pytest.raises(PermissionSyntaxError, match=message):
        parse(raw)


@pytest.mark.parametrize(
    "raw",
    [f"net:{value}" for value, _ in NET]
    + [f"read:{value}" for value, _ in PATHS]
    + [f"run:{value}" for value, _ in RUN],
)
def test_canonical_form_is_a_fixed_point(raw: str) -> None:
    once = str(parse(raw))
    assert str(parse(once)) == once


def test_canonical_sorts_and_merges_spellings() -> None:
    assert canonical(
        [
            "net:EXAMPLE.com",
            "net:example.com:*",
            Permission("env", "A"),
            "read:/x/",
            "read:/x",
            "ffi",
        ]
    ) == ["env:A", "ffi", "net:example.com:*", "read:/x"]
    assert canonical([]) == []


def test_explain_names_the_value() -> None:
    assert "/data" in parse("read:/data").explain()
    assert "example.com:443" in parse("net:example.com:443").explain()
    assert "bypass" in parse("ffi").explain()
    assert set(permissions.EXPLANATIONS) == set(permissions.KINDS)


# -- missing() ----------------------------------------------------------------------------


def test_missing() -> None:
    requested = ["read:/data", "env:A", "net:example.com:*"]
    assert missing(requested, []) == ["env:A", "net:example.com:*", "read:/data"]
    assert missing(requested, ["env:A"]) == ["net:example.com:*", "read:/data"]
    assert missing(requested, requested) == []
    assert missing(requested, [*requested, "ffi"]) == []
    assert missing([], ["env:A"]) == []
    assert missing(iter(["env:B"]), iter(["env:A"])) == ["env:B"]
