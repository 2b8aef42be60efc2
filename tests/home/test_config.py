"""Plugin configuration: ``[plugins.NAME]`` + ``JAFHOST_<PLUGIN>__<FIELD>`` overrides,
validated by the plugin's pydantic model; ``jafhost config show`` / ``config set``.

The plugins here are real distributions (the ``site`` fixture) with a schema that has a
nested model, a mapping, a list, constraints and a ``SecretStr``; the CLI tests run the
real ``jafhost`` command in new processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr

from conftest import INPROCESS_CONFIG, ISOLATION_MODES, Site, run_cli
from jafhost.errors import ConfigError
from jafhost.home.config import (
    env_overrides,
    explain_config,
    plugin_config_table,
    resolve_key,
    secret_keys,
    validate_plugin_config,
)
from jafhost.home.config_edit import read_document, set_in_document
from jafhost.host.host import Host

PLUGIN = "search-conf"
PREFIX = "JAFHOST_SEARCH_CONF__"
SECRET = "s3cr3t-Token-9f2c"

SCHEMA_CODE = """
from pydantic import BaseModel, ConfigDict, Field, SecretStr

class Limits(BaseModel):
    max: int = Field(10, ge=1, le=100)
    min: int = Field(0, ge=0)

class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"
    retries: int = Field(3, ge=0, le=10)
    verbose: bool = False
    ratio: float = 0.5
    tags: list[str] = []
    limits: Limits = Limits()
    counters: dict[str, int] = {}
    api_token: SecretStr | None = None

@hookimpl
def jaf_config_schema():
    return Settings
"""


class Limits(BaseModel):
    max: int = Field(10, ge=1, le=100)
    min: int = Field(0, ge=0)


class Settings(BaseModel):
    """The same model as the plugin's, for the in-process tests."""

    greeting: str = "hello"
    retries: int = Field(3, ge=0, le=10)
    verbose: bool = False
    ratio: float = 0.5
    tags: list[str] = []
    limits: Limits = Limits()
    counters: dict[str, int] = {}
    api_token: SecretStr | None = None


HAND_WRITTEN = """\
# jafhost configuration, edited by hand

[host]
hook_timeout = 5   # seconds

# the search plugin
[plugins.search-conf]
retries = 2        # keep it low
greeting = 'hi'    # single quotes on purpose
# a comment that must survive

[plugins.search-conf.limits]
min   = 1          # odd spacing kept

[plugins.other]
x = 1
"""


@pytest.fixture
def plugin(site: Site) -> Site:
    site.plugin(PLUGIN, code=SCHEMA_CODE)
    return site


def _config(home: Path) -> Path:
    return home / "config.toml"


def _cli(site: Site, home: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_cli(*args, site=site, home=home, env=env)


# -- environment overrides (no plugin code) ---------------------------------------


def test_env_overrides_nesting_types_and_the_documented_example() -> None:
    environ = {
        "JAFHOST_NOTES_SEARCH__LIMITS__MAX": "5",
        "JAFHOST_NOTES_SEARCH__TAGS": '["a", "b"]',
        "JAFHOST_NOTES_SEARCH__COUNTERS": '{"x": 1}',
        "JAFHOST_NOTES_SEARCH__GREETING": "007",
        "JAFHOST_NOTES_SEARCH__BAD": "[not json",
        "JAFHOST_NOTES__LIMITS__MAX": "7",  # plugin notes, not notes-search
        "JAFHOST_NOTES_SEARCH__": "ignored",  # no field
        "JAFHOST_NOTES_SEARCH__A____B": "ignored",  # empty field
        "JAFHOST_HOME": "/elsewhere",
    }
    assert plugin_config_table({}, "notes-search", {"JAFHOST_NOTES_SEARCH__LIMITS__MAX": "5"}) == {
        "limits": {"max": "5"}
    }
    assert env_overrides("notes-search", environ) == {
        "limits": {"max": "5"},
        "tags": ["a", "b"],
        "counters": {"x": 1},
        "greeting": "007",
        "bad": "[not json",
    }
    assert env_overrides("notes", environ) == {"limits": {"max": "7"}}


def test_env_wins_over_the_file_key_by_key() -> None:
    config = {
        "plugins": {
            "notes-search": {"greeting": "file", "limits": {"max": 3, "min": 2}},
            "other": {"greeting": "untouched"},
        }
    }
    environ = {
        "JAFHOST_NOTES_SEARCH__LIMITS__MAX": "9",
        "JAFHOST_NOTES_SEARCH__GREETING": "env",
    }
    table = plugin_config_table(config, "notes-search", environ)
    assert table == {"greeting": "env", "limits": {"max": "9", "min": 2}}
    assert config["plugins"]["notes-search"]["limits"]["max"] == 3  # the file is not changed
    # a deeper variable wins over a JSON object set higher up
    environ = {
        "JAFHOST_NOTES_SEARCH__LIMITS": '{"max": 1, "min": 4}',
        "JAFHOST_NOTES_SEARCH__LIMITS__MAX": "8",
    }
    assert plugin_config_table(config, "notes-search", environ)["limits"] == {"max": "8", "min": 4}


def test_env_values_are_converted_by_the_model() -> None:
    environ = {
        f"{PREFIX}LIMITS__MAX": "5",
        f"{PREFIX}VERBOSE": "true",
        f"{PREFIX}RATIO": "0.25",
        f"{PREFIX}TAGS": '["a", "b"]',
        f"{PREFIX}GREETING": "0123",  # a str field keeps digits as written
        f"{PREFIX}API_TOKEN": "12345",  # so does a secret
    }
    config = {"plugins": {PLUGIN: {"retries": 4, "limits": {"min": 2}}}}
    settings = validate_plugin_config(Settings, PLUGIN, config, environ)
    assert isinstance(settings, Settings)
    assert settings.limits == Limits(max=5, min=2)
    assert (settings.verbose, settings.ratio, settings.tags) == (True, 0.25, ["a", "b"])
    assert (settings.greeting, settings.retries) == ("0123", 4)
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "12345"


def test_invalid_env_value_names_plugin_field_and_variable() -> None:
    environ = {f"{PREFIX}LIMITS__MAX": "500"}
    with pytest.raises(ConfigError) as caught:
        validate_plugin_config(Settings, PLUGIN, {}, environ)
    assert str(caught.value) == (
        f"config [plugins.{PLUGIN}] limits.max (from {PREFIX}LIMITS__MAX): "
        "Input should be less than or equal to 100"
    )


def test_a_secret_in_the_file_is_refused_without_showing_it() -> None:
    config = {"plugins": {PLUGIN: {"api_token": SECRET}}}
    with pytest.raises(ConfigError) as caught:
        validate_plugin_config(Settings, PLUGIN, config, {})
    message = str(caught.value)
    assert f"{PREFIX}API_TOKEN" in message and "api_token" in message
    assert SECRET not in message


def test_model_introspection() -> None:
    assert secret_keys(Settings) == [("api_token",)]
    assert resolve_key(Settings, ["limits", "max"]) == ("limits", "max")
    assert resolve_key(Settings, ["counters", "anything"]) == ("counters", "anything")
    assert resolve_key(Settings, ["limits", "mx"]) is None
    assert resolve_key(Settings, ["greeting", "x"]) is None
    report = explain_config(
        Settings,
        PLUGIN,
        {"plugins": {PLUGIN: {"greeting": "hi"}}},
        {f"{PREFIX}API_TOKEN": SECRET, f"{PREFIX}LIMITS__MAX": "5"},
    )
    assert report.values["api_token"] == "**********"
    assert report.sources["greeting"] == "file"
    assert report.sources["limits.max"] == "env"
    assert report.sources["limits.min"] == "default"
    assert report.env["limits.max"] == f"{PREFIX}LIMITS__MAX"
    assert SECRET not in json.dumps(report.to_json())


# -- the host hands the overridden values to the plugin ----------------------------


def test_plugin_sees_env_overrides_in_ctx_config(
    plugin: Site, make_host, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Needs ``Host._start`` to pass ``plugin_config_table(..., os.environ)``; reads the
    loaded plugin's ``ctx`` in this process, so it runs in process."""
    _config(home).write_text(
        INPROCESS_CONFIG + f'[plugins.{PLUGIN}]\ngreeting = "from file"\nretries = 1\n'
    )
    monkeypatch.setenv(f"{PREFIX}RETRIES", "6")
    monkeypatch.setenv(f"{PREFIX}LIMITS__MAX", "42")
    monkeypatch.setenv(f"{PREFIX}API_TOKEN", SECRET)
    host: Host = make_host()

    async def scenario() -> None:
        async with host:
            loaded = host.loaded(PLUGIN)
            assert loaded is not None and loaded.status == "active", loaded and loaded.error
            assert loaded.ctx is not None
            config = loaded.ctx.config
            assert config.greeting == "from file"
            assert config.retries == 6
            assert config.limits.max == 42
            assert config.api_token.get_secret_value() == SECRET

    asyncio.run(scenario())


# -- jafhost config show ------------------------------------------------------------


def test_config_show_json_values_sources_schema_and_masked_secret(plugin: Site, home: Path) -> None:
    _config(home).write_text(
        f'[plugins.{PLUGIN}]\ngreeting = "hi"\n[plugins.{PLUGIN}.limits]\nmin = 2\n'
    )
    env = {f"{PREFIX}LIMITS__MAX": "5", f"{PREFIX}API_TOKEN": SECRET}
    result = _cli(plugin, home, "config", "show", PLUGIN, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["validated"] is True
    assert data["config"]["greeting"] == "hi"
    assert data["config"]["limits"] == {"max": 5, "min": 2}
    assert data["config"]["api_token"] == "**********"
    assert data["sources"]["greeting"] == "file"
    assert data["sources"]["limits.max"] == "env"
    assert data["sources"]["limits.min"] == "file"
    assert data["sources"]["retries"] == "default"
    assert data["sources"]["api_token"] == "env"
    assert data["env"]["api_token"] == f"{PREFIX}API_TOKEN"
    assert data["secrets"] == ["api_token"]
    assert data["schema"]["properties"]["retries"]["maximum"] == 10
    assert data["schema"]["properties"]["api_token"]["anyOf"][0]["format"] == "password"


def test_config_show_table_masks_the_secret(plugin: Site, home: Path) -> None:
    env = {f"{PREFIX}API_TOKEN": SECRET}
    result = _cli(plugin, home, "config", "show", PLUGIN, env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "**********" in result.stdout
    assert f"{PREFIX}API_TOKEN" in result.stdout
    assert "JSON Schema" in result.stdout


def test_config_show_invalid_config_names_plugin_field_problem(plugin: Site, home: Path) -> None:
    _config(home).write_text(f"[plugins.{PLUGIN}]\nretries = 99\n")
    result = _cli(plugin, home, "config", "show", PLUGIN)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: config [plugins.{PLUGIN}] retries: Input should be less than or equal to 10\n"
    )
    result = _cli(plugin, home, "config", "show", PLUGIN, env={f"{PREFIX}RETRIES": "11"})
    assert result.returncode == 1
    assert f"retries (from {PREFIX}RETRIES)" in result.stderr


def test_config_show_secret_in_file_is_an_error_that_hides_it(plugin: Site, home: Path) -> None:
    _config(home).write_text(f'[plugins.{PLUGIN}]\napi_token = "{SECRET}"\n')
    result = _cli(plugin, home, "config", "show", PLUGIN, "--json")
    assert result.returncode == 1
    assert f"set the environment variable {PREFIX}API_TOKEN" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert result.stderr.count("\n") == 1


def test_config_show_plugin_without_schema(site: Site, home: Path) -> None:
    site.plugin("plain-conf", code="")
    result = _cli(site, home, "config", "show", "plain-conf", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] is None and data["config"] is None
    assert "declares no configuration" in data["note"]
    result = _cli(site, home, "config", "show", "plain-conf")
    assert "declares no configuration" in result.stdout


def test_config_show_of_a_disabled_plugin_uses_the_recorded_schema(
    plugin: Site, home: Path
) -> None:
    env = {f"{PREFIX}API_TOKEN": SECRET}
    assert _cli(plugin, home, "config", "show", PLUGIN).returncode == 0  # records the schema
    assert _cli(plugin, home, "disable", PLUGIN).returncode == 0
    result = _cli(plugin, home, "config", "show", PLUGIN, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["validated"] is False
    assert "disabled" in data["note"]
    assert data["config"]["api_token"] == "**********"


def test_config_show_unknown_plugin_exit_2(site: Site, home: Path) -> None:
    result = _cli(site, home, "config", "show", "no-such-plugin")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown plugin 'no-such-plugin'")


# -- jafhost config set -------------------------------------------------------------


def test_config_set_keeps_comments_order_and_formatting(plugin: Site, home: Path) -> None:
    _config(home).write_text(HAND_WRITTEN)
    for key, value in [
        ("retries", "7"),
        ("limits.max", "20"),
        ("verbose", "true"),
        ("tags", '["x", "y"]'),
        ("greeting", "123"),  # not an int for a str field: kept as the string "123"
    ]:
        result = _cli(plugin, home, "config", "set", PLUGIN, key, value)
        assert result.returncode == 0, result.stderr
    assert _config(home).read_text() == HAND_WRITTEN.replace(
        "retries = 2        # keep it low", "retries = 7        # keep it low"
    ).replace("greeting = 'hi'    #", 'greeting = "123"    #').replace(
        "# a comment that must survive\n",
        '# a comment that must survive\nverbose = true\ntags = ["x", "y"]\n',
    ).replace(
        "min   = 1          # odd spacing kept\n",
        "min   = 1          # odd spacing kept\nmax = 20\n",
    )
    data = json.loads(_cli(plugin, home, "config", "show", PLUGIN, "--json").stdout)
    assert data["config"]["limits"] == {"max": 20, "min": 1}
    assert data["config"]["greeting"] == "123"


def test_config_set_creates_the_file_and_tables(plugin: Site, home: Path) -> None:
    result = _cli(plugin, home, "config", "set", PLUGIN, "limits.max", "3")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(_config(home).read_text()) == {"plugins": {PLUGIN: {"limits": {"max": 3}}}}


@pytest.mark.parametrize(
    ("key", "value", "code", "needle"),
    [
        ("retries", "11", 2, "retries: Input should be less than or equal to 10"),
        ("retries", "-1", 2, "retries: Input should be greater than or equal to 0"),
        ("limits.max", "0", 2, "limits.max: Input should be greater than or equal to 1"),
        ("verbose", "maybe", 2, "verbose: Input should be a valid boolean"),
        ("tags", "not-a-list", 2, "tags: Input should be a valid list"),
        ("retries", "null", 2, "TOML has no null"),
        ("limits.mx", "5", 2, f"plugin {PLUGIN} has no config key 'limits.mx'"),
        ("nope", "5", 2, f"plugin {PLUGIN} has no config key 'nope'"),
        ("api_token", SECRET, 2, f"set the environment variable {PREFIX}API_TOKEN"),
    ],
)
def test_config_set_refuses_without_touching_the_file(
    plugin: Site, home: Path, key: str, value: str, code: int, needle: str
) -> None:
    original = HAND_WRITTEN.replace("\n", "\r\n").encode()  # CRLF too: byte for byte
    _config(home).write_bytes(original)
    before = _config(home).stat()
    result = _cli(plugin, home, "config", "set", PLUGIN, key, value)
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert SECRET not in result.stdout + result.stderr
    assert _config(home).read_bytes() == original
    assert _config(home).stat().st_mtime_ns == before.st_mtime_ns


def test_config_set_names_the_plugin_in_errors(plugin: Site, home: Path) -> None:
    result = _cli(plugin, home, "config", "set", PLUGIN, "limits.max", "500")
    assert result.returncode == 2
    assert result.stderr == (
        f"error: invalid value for [plugins.{PLUGIN}] limits.max: "
        "Input should be less than or equal to 100\n"
    )
    assert not _config(home).exists()


def test_config_set_repairs_an_invalid_config_and_warns_about_others(
    plugin: Site, home: Path
) -> None:
    _config(home).write_text(f"[plugins.{PLUGIN}]\nretries = 99\nratio = 'x'\n")
    assert _cli(plugin, home, "config", "show", PLUGIN).returncode == 1
    result = _cli(plugin, home, "config", "set", PLUGIN, "retries", "5")
    assert result.returncode == 0, result.stderr
    assert "warning: config [plugins.search-conf] ratio:" in result.stderr
    result = _cli(plugin, home, "config", "set", PLUGIN, "ratio", "0.75")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert _config(home).read_text() == f"[plugins.{PLUGIN}]\nretries = 5\nratio = 0.75\n"
    assert _cli(plugin, home, "config", "show", PLUGIN).returncode == 0


def test_config_set_warns_when_the_environment_overrides_the_key(plugin: Site, home: Path) -> None:
    result = _cli(
        plugin, home, "config", "set", PLUGIN, "retries", "5", env={f"{PREFIX}RETRIES": "2"}
    )
    assert result.returncode == 0, result.stderr
    assert f"warning: {PREFIX}RETRIES is set in the environment and overrides" in result.stderr


def test_config_set_unknown_plugin_and_plugin_without_schema_exit_2(site: Site, home: Path) -> None:
    site.plugin("plain-conf", code="")
    result = _cli(site, home, "config", "set", "no-such-plugin", "a", "1")
    assert result.returncode == 2
    assert "unknown plugin 'no-such-plugin'" in result.stderr
    result = _cli(site, home, "config", "set", "plain-conf", "a", "1")
    assert result.returncode == 2
    assert "plain-conf declares no configuration" in result.stderr
    assert not _config(home).exists()


def test_config_set_needs_a_plugin_that_can_load(plugin: Site, home: Path) -> None:
    assert _cli(plugin, home, "disable", PLUGIN).returncode == 0
    result = _cli(plugin, home, "config", "set", PLUGIN, "retries", "1")
    assert result.returncode == 1
    assert f"cannot load plugin {PLUGIN} to read its config schema: it is disabled" in (
        result.stderr
    )


def test_concurrent_config_set_loses_no_update(plugin: Site, home: Path) -> None:
    _config(home).write_text(HAND_WRITTEN)
    environment = dict(os.environ)
    environment.pop("JAFHOST_DEBUG", None)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(plugin.root), *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment["JAFHOST_HOME"] = str(home)
    count = 8
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "jafhost", "config", "set", PLUGIN, f"counters.p{i}", str(i)],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    text = _config(home).read_text()
    data = tomllib.loads(text)
    assert data["plugins"][PLUGIN]["counters"] == {f"p{i}": i for i in range(count)}
    assert data["plugins"][PLUGIN]["retries"] == 2
    assert "# a comment that must survive" in text
    assert not list(home.glob(".config.toml-*.tmp"))


# -- the editing primitives ----------------------------------------------------------


def test_set_in_document_keeps_inline_and_dotted_styles(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[plugins]\n{PLUGIN} = {{retries = 1}}  # inline\n")
    document = read_document(path)
    set_in_document(document, PLUGIN, ["limits", "max"], 4)
    set_in_document(document, PLUGIN, ["retries"], 2)
    import tomlkit

    assert tomlkit.dumps(document) == (
        f"[plugins]\n{PLUGIN} = {{retries = 2, limits = {{max = 4}}}}  # inline\n"
    )
    path.write_text(f"[plugins.{PLUGIN}]\nlimits.max = 3\n")
    document = read_document(path)
    set_in_document(document, PLUGIN, ["limits", "min"], 1)
    assert tomlkit.dumps(document) == f"[plugins.{PLUGIN}]\nlimits.max = 3\nlimits.min = 1\n"


def test_set_in_document_writes_strings_double_quoted(tmp_path: Path) -> None:
    """The quoting a user sees is the host's choice, whatever tomlkit's release prefers:
    basic strings, escaped where needed, also replacing a single-quoted value, in lists
    and in inline tables."""
    path = tmp_path / "config.toml"
    path.write_text(f"[plugins.{PLUGIN}]\ngreeting = 'hi'  # kept\nopts = {{a = 'x'}}\n")
    document = read_document(path)
    set_in_document(document, PLUGIN, ["greeting"], 'say "hi" \\ bye')
    set_in_document(document, PLUGIN, ["tags"], ["it's", "007"])
    set_in_document(document, PLUGIN, ["opts", "b"], "y")
    set_in_document(document, PLUGIN, ["nested"], {"k": "v"})
    import tomlkit

    text = tomlkit.dumps(document)
    assert 'greeting = "say \\"hi\\" \\\\ bye"  # kept\n' in text
    assert "opts = {a = 'x', b = \"y\"}\n" in text
    assert 'tags = ["it\'s", "007"]\n' in text
    assert 'k = "v"' in text
    assert tomllib.loads(text)["plugins"][PLUGIN]["greeting"] == 'say "hi" \\ bye'


def test_plugin_model_secret_helpers_cover_nested_secrets() -> None:
    class Auth(BaseModel):
        user: str = "me"
        token: SecretStr | None = None

    class WithAuth(BaseModel):
        auth: Auth = Auth()
        keys: list[SecretStr] = []

    assert secret_keys(WithAuth) == [("auth", "token"), ("keys",)]
    with pytest.raises(ConfigError) as caught:
        validate_plugin_config(WithAuth, "x", {"plugins": {"x": {"auth": {"token": SECRET}}}}, {})
    assert "JAFHOST_X__AUTH__TOKEN" in str(caught.value) and SECRET not in str(caught.value)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_config_show_and_set_in_either_isolation_mode(
    isolation: str, plugin: Site, home: Path
) -> None:
    """In a worker the model class stays there: ``show`` and ``set`` ask it questions
    (validation included) and it answers as in process."""
    enabled = _cli(plugin, home, "enable", PLUGIN, "--isolation", isolation, "--yes")
    assert enabled.returncode == 0, enabled.stderr
    _config(home).write_text(f"[plugins.{PLUGIN}]\nretries = 2\n")
    env = {f"{PREFIX}API_TOKEN": SECRET}
    result = _cli(plugin, home, "config", "show", PLUGIN, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["validated"] is True and data["note"] is None
    assert data["config"]["retries"] == 2 and data["config"]["api_token"] == "**********"
    assert data["schema"]["properties"]["retries"]["maximum"] == 10
    result = _cli(plugin, home, "config", "show", PLUGIN, env={f"{PREFIX}RETRIES": "50"})
    assert result.returncode == 1
    assert f"retries (from {PREFIX}RETRIES)" in result.stderr
    before = _config(home).read_bytes()
    refused = _cli(plugin, home, "config", "set", PLUGIN, "retries", "11")
    assert refused.returncode == 2, refused.stderr
    assert "retries: Input should be less than or equal to 10" in refused.stderr
    assert _config(home).read_bytes() == before
    result = _cli(plugin, home, "config", "set", PLUGIN, "retries", "3")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(_config(home).read_text())["plugins"][PLUGIN]["retries"] == 3


# -- a missing required setting says what sets it -----------------------------------

REQUIRED_CODE = """
from pathlib import Path
from pydantic import BaseModel, ConfigDict, Field

class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database: Path
    retries: int = Field(3, ge=0, le=10)

@hookimpl
def jaf_config_schema():
    return Settings

def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"

@hookimpl
def jaf_tools():
    return [ping]
"""


class Needed(BaseModel):
    """Required fields of several kinds, for the messages."""

    class Limits(BaseModel):
        max: int
        min: int = 0

    database: Path
    name: str
    limits: Limits
    retries: int = Field(3, ge=0, le=10)
    token: SecretStr


def test_a_missing_required_field_names_the_command_or_variable_that_sets_it() -> None:
    given = {"name": "n", "limits": {"max": 1}, "token": "t"}
    env = {"JAFHOST_X__TOKEN": "t"}

    def error(table: dict[str, object], environ: dict[str, str]) -> str:
        without_token = {k: v for k, v in table.items() if k != "token"}
        with pytest.raises(ConfigError) as caught:
            validate_plugin_config(Needed, "x", {"plugins": {"x": without_token}}, environ)
        return str(caught.value)

    assert error({**given, "database": "/d"}, {}) == (
        "plugin x needs configuration: JAFHOST_X__TOKEN=VALUE in the environment (a secret)"
    )
    assert error(given, env) == (
        "plugin x needs configuration: jafhost config set x database PATH "
        "(or JAFHOST_X__DATABASE=PATH)"
    )
    assert error({"limits": {}}, env) == (
        "plugin x needs configuration: "
        "jafhost config set x database PATH (or JAFHOST_X__DATABASE=PATH); "
        "jafhost config set x name VALUE (or JAFHOST_X__NAME=VALUE); "
        "jafhost config set x limits.max NUMBER (or JAFHOST_X__LIMITS__MAX=NUMBER)"
    )
    assert error({"name": "n"}, env) == (
        "plugin x needs configuration: "
        "jafhost config set x database PATH (or JAFHOST_X__DATABASE=PATH); "
        "jafhost config set x limits JSON (or JAFHOST_X__LIMITS=JSON)"
    )
    # with another problem, each missing field keeps its command in the usual form
    assert error({**given, "retries": 99}, env) == (
        "config [plugins.x] database: Field required "
        "(jafhost config set x database PATH (or JAFHOST_X__DATABASE=PATH)); "
        "retries: Input should be less than or equal to 10"
    )


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_the_needs_configuration_line_is_what_the_cli_shows_and_its_command_works(
    site: Site, home: Path, tmp_path: Path, isolation: str
) -> None:
    site.plugin("db-conf", code=REQUIRED_CODE)
    assert _cli(site, home, "enable", "db-conf", "--isolation", isolation, "--yes").returncode == 0
    needs = (
        "plugin db-conf needs configuration: jafhost config set db-conf database PATH "
        "(or JAFHOST_DB_CONF__DATABASE=PATH)"
    )

    def doctor() -> tuple[str, str | None]:
        result = _cli(site, home, "doctor", "--json")
        [report] = [p for p in json.loads(result.stdout)["plugins"] if p["name"] == "db-conf"]
        return report["runtime"], report["problem"]

    assert doctor() == ("broken", needs)
    call = _cli(site, home, "call", "db-conf.ping")
    assert call.returncode == 1
    assert (
        call.stderr
        == f"error: plugin db-conf is broken: {needs}; tool db-conf.ping is not available\n"
    )
    if isolation == "inprocess":  # a worker keeps the model: `config set` refuses there
        database = str(tmp_path / "app.db")
        command = needs.split(": ", 1)[1].split(" (or ")[0].replace("PATH", database)
        fixed = _cli(site, home, *command.split()[1:])
        assert fixed.returncode == 0, fixed.stderr
    else:
        _config(home).write_text(f'[plugins.db-conf]\ndatabase = "{tmp_path / "app.db"}"\n')
    assert doctor() == ("active", None)
    variable = {"JAFHOST_DB_CONF__DATABASE": str(tmp_path / "other.db")}
    _config(home).unlink()
    assert _cli(site, home, "call", "db-conf.ping", env=variable).stdout == '"pong"\n'
