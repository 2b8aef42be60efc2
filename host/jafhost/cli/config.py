"""``jafhost config show`` and ``jafhost config set``: a plugin's configuration.

A plugin's configuration is its ``[plugins.NAME]`` table in ``config.toml`` with the
``JAFHOST_<PLUGIN>__<FIELD>`` environment variables on top (``jafhost.home.config``),
validated by the pydantic model the plugin returns from ``jaf_config_schema``; both
commands load the plugin through the host to get that model. Secret values are never
printed. Exit statuses, and what happens for a plugin isolated in a worker:
docs/architecture.md, "``jafhost config show`` and ``config set``".
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jafhost.cli._common import (
    Failed,
    JsonOption,
    app,
    build_host,
    make_console,
    print_json,
    warn,
)
from jafhost.errors import PluginError, UsageError, describe, quoted

if TYPE_CHECKING:
    from pydantic import BaseModel

    from jafhost.home.config import ConfigReport, Key
    from jafhost.host.host import Host
    from jafhost.runtime.lifecycle import LoadedPlugin


class ModelUnavailable(Failed):
    """The plugin ran, but in a worker process: its model class stays there.

    ``validated`` says the worker started it (so its config validated there);
    ``problem`` is the worker's error when it did not (a config error, say).
    """

    def __init__(self, message: str, *, validated: bool, problem: str | None) -> None:
        super().__init__(message)
        self.validated = validated
        self.problem = problem


config_app = typer.Typer(
    name="config",
    help="Show or change a plugin's configuration.\n\nIt comes from config.toml "
    "[plugins.NAME] and JAFHOST_<PLUGIN>__<FIELD> environment variables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(config_app)


# -- the plugin's model ------------------------------------------------------------


def load_config_model(host: Host, name: str) -> type[BaseModel] | None:
    """Plugin ``name``'s config model, or None if it declares none.

    Activates the plugin (and the plugins it needs) through ``host``, asks it for its
    model and deactivates everything again. Raises ``Failed`` when its code cannot run:
    not enabled, failed to import, blocked, or a ``jaf_config_schema`` that fails.
    """
    view = host.plugin(name)  # UsageError for an unknown plugin
    if view.status != "enabled":
        why = f": {view.reason}" if view.reason else ""
        raise Failed(
            f"cannot load plugin {name} to read its config schema: it is {view.status}{why}"
        )

    async def main() -> type[BaseModel] | None:
        try:
            try:
                loaded = await host.activate(name)
            except PluginError as exc:
                raise Failed(f"cannot load plugin {name}: {exc}") from None
            if view.isolation == "process":
                active = loaded.status == "active"
                if active and not _worker_has_config(loaded):
                    return None  # it declares no configuration
                raise ModelUnavailable(
                    f"plugin {name} runs in a worker process (isolation process), so its "
                    "config model cannot be loaded into the host"
                    + ("" if active else f"; it is {loaded.status}: {loaded.error}"),
                    validated=active,
                    problem=None if active else loaded.error,
                )
            return await _ask_model(host, loaded)
        finally:
            await host.deactivate_all()

    import asyncio

    return asyncio.run(main())


def _worker_has_config(loaded: LoadedPlugin) -> bool:
    """Whether a plugin started in its worker has a config model (its start reply)."""
    from jafhost.runtime.isolation.launch import worker_of

    worker = worker_of(loaded)
    started = worker.started if worker is not None else None
    return not isinstance(started, dict) or bool(started.get("has_config", True))


async def _ask_model(host: Host, loaded: LoadedPlugin) -> type[BaseModel] | None:
    """Call the plugin's ``jaf_config_schema`` (under its grants and the hook time limit)
    through a private plugin manager, so a plugin that failed later than its import
    (an invalid config, say) can still be asked."""
    from pydantic import BaseModel

    from jafhost.runtime.lifecycle import hooks_of
    from jafhost.runtime.plugin_manager import make_plugin_manager

    name = loaded.name
    if loaded.obj is None:
        raise Failed(f"cannot load plugin {name}: it is {loaded.status}: {loaded.error}")
    pm = make_plugin_manager()
    try:
        pm.register(loaded.obj, name=name)
    except Exception as exc:
        raise Failed(f"cannot load plugin {name}: {exc}") from None
    try:
        model = await hooks_of(pm, loaded, host.hook_timeout).config_schema()
    except Exception as exc:
        problem = describe(exc, first_line=True)
        raise Failed(f"plugin {name}: jaf_config_schema failed: {problem}") from None
    if model is None:
        return None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise Failed(f"plugin {name}: jaf_config_schema returned {model!r}, not a pydantic model")
    return model


def _json_schema(model: type[BaseModel]) -> Any:
    try:
        return model.model_json_schema()
    except Exception:  # a type pydantic cannot describe: show the rest
        return None


# -- config show -------------------------------------------------------------------


@config_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The plugin.")],
    as_json: JsonOption = False,
) -> None:
    """Show a plugin's configuration and its JSON Schema.

    Secrets are masked; each value says where it comes from (file, env, default).
    Loads the plugin to validate.
    """
    from jafhost.home.config import explain_config, explain_unvalidated, plugin_table, read_config

    host = build_host()
    host.plugin(name)
    config = read_config(host.layout.config)
    try:
        model = load_config_model(host, name)
    except Failed as exc:
        # no model in this process: show what the recorded JSON Schema allows
        schema = host.recorded_config_schema(name)
        validated = isinstance(exc, ModelUnavailable) and exc.validated
        problem = exc.problem if isinstance(exc, ModelUnavailable) else None
        if problem is not None and problem.startswith("config"):
            raise Failed(problem) from None  # the worker's own validation error
        if schema is None:
            raise
        report = explain_unvalidated(schema, name, config, os.environ)
        if validated:
            note = f"{exc}; it validated its config there; the schema is the one it recorded"
        else:
            note = f"not validated: {exc}; the schema shown was recorded at its last load"
        warn(host)
        _show(report, schema, validated=validated, note=note, as_json=as_json)
        return
    warn(host)
    if model is None:
        note = f"plugin {name} declares no configuration (it has no jaf_config_schema)"
        if plugin_table(config, name):
            note += f"; the [plugins.{name}] table in {host.layout.config} is ignored"
        if as_json:
            print_json(
                {
                    "plugin": name,
                    "validated": False,
                    "config": None,
                    "sources": {},
                    "env": {},
                    "secrets": [],
                    "schema": None,
                    "note": note,
                }
            )
        else:
            make_console().print(note, markup=False)
        return
    report = explain_config(model, name, config, os.environ)  # ConfigError: exit 1
    _show(report, _json_schema(model), validated=True, note=None, as_json=as_json)


def _show(
    report: ConfigReport, schema: Any, *, validated: bool, note: str | None, as_json: bool
) -> None:
    from jafhost.home.config import SECRET_MASK, env_prefix

    if as_json:
        data = report.to_json()
        data.update(validated=validated, schema=schema, note=note)
        print_json(data)
        return
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    title = f"{report.plugin} config" + ("" if validated else " (not validated)")
    table = Table(title=title)
    for column in ("key", "value", "source"):
        table.add_column(column, overflow="fold")
    for key, source in report.sources.items():
        value = _lookup_dotted(report.values, key)
        shown = value if value == SECRET_MASK and key in report.secrets else json.dumps(value)
        where = f"{source} {report.env[key]}" if source == "env" and key in report.env else source
        table.add_row(escape(key), escape(shown), escape(where))
    if table.row_count:
        console.print(table)
    else:
        console.print(f"{report.plugin}: no settings", markup=False)
    console.print(
        f"environment overrides: {env_prefix(report.plugin)}<FIELD>[__<SUBFIELD>...]",
        markup=False,
    )
    if report.secrets:
        console.print(
            "secrets (from the environment only): " + ", ".join(report.secrets), markup=False
        )
    if note:
        console.print(note, markup=False)
    if schema is not None:
        console.print("JSON Schema:", markup=False)
        console.print_json(json.dumps(schema))


def _lookup_dotted(values: Any, key: str) -> Any:
    for part in key.split("."):
        values = values.get(part) if isinstance(values, dict) else None
    return values


# -- config set --------------------------------------------------------------------


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _toml_value(value: Any) -> str | None:
    """``value`` as TOML text, or None when TOML cannot hold it (null)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return str(tomlkit.item(value).as_string())
    except (TOMLKitError, TypeError, ValueError):
        return None


@config_app.command("set", context_settings={"ignore_unknown_options": True})
def set_command(
    name: Annotated[str, typer.Argument(help="The plugin.")],
    key: Annotated[str, typer.Argument(help="The setting; dots for nested tables: limits.max.")],
    value: Annotated[str, typer.Argument(help="The value: JSON when it parses, else a string.")],
) -> None:
    """Validate one value and write it to config.toml.

    The plugin's schema checks the value; the file is written atomically, keeping
    comments and order. Secret fields are refused: they come from the environment.
    """
    from jafhost.home.config import dotted, env_prefix, resolve_key, secret_keys
    from jafhost.home.config_edit import set_plugin_value

    host = build_host()
    host.plugin(name)
    parts = key.split(".")
    if not all(parts):
        raise UsageError(f"bad config key {quoted(key)} for plugin {name}: empty part")
    try:
        model = load_config_model(host, name)
    except ModelUnavailable as exc:
        _refuse_unknown_key(host, name, key)
        raise Failed(
            f"{exc}: cannot validate a value for it; edit [plugins.{name}] in "
            f"{host.layout.config} (validated when the plugin loads) or set "
            f"{env_prefix(name)}<FIELD> variables"
        ) from None
    warn(host)
    if model is None:
        raise UsageError(
            f"plugin {name} declares no configuration (it has no jaf_config_schema), "
            f"so it has no key {quoted(key)}"
        )
    resolved = resolve_key(model, parts)
    if resolved is None:
        from jafhost.home.config import closest_key, known_keys

        close = closest_key(model, parts)
        hint = f"did you mean {close}? " if close else ""
        known = ", ".join(known_keys(model)) or "none"
        raise UsageError(f"plugin {name} has no config key {quoted(key)} ({hint}known: {known})")
    for secret in secret_keys(model):
        if resolved[: len(secret)] == secret:
            raise UsageError(_secret_refusal(name, secret))

    warnings: list[str] = []
    written = set_plugin_value(
        host.layout.config,
        name,
        resolved,
        lambda table: _choose(model, name, resolved, value, table, warnings),
    )
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")
    make_console().print(
        f"set [plugins.{name}] {dotted(resolved)} = {_toml_value(written)} in {host.layout.config}",
        markup=False,
    )
    for env_key, (variable, _) in _env(name).items():
        if env_key[: len(resolved)] == resolved or resolved[: len(env_key)] == env_key:
            sys.stderr.write(
                f"warning: {variable} is set in the environment and overrides "
                f"{dotted(env_key)} from config.toml\n"
            )


def _refuse_unknown_key(host: Host, name: str, key: str) -> None:
    """A plugin in a worker: refuse a key its recorded schema does not have (exit 2)."""
    from jafhost.home.config import schema_keys

    schema = host.recorded_config_schema(name)
    if not isinstance(schema, dict):
        return
    keys, open_ended = schema_keys(schema)
    if open_ended or key in keys or any(k.startswith(key + ".") for k in keys):
        return
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    known = ", ".join(keys) or "none"
    raise UsageError(f"plugin {name} has no config key {key!r} ({hint}known: {known})")


def _env(name: str) -> dict[Key, tuple[str, Any]]:
    from jafhost.home.config import env_settings

    return env_settings(name, os.environ)


def _secret_refusal(name: str, secret: Key) -> str:
    from jafhost.home.config import dotted, env_variable

    return (
        f"{dotted(secret)} of plugin {name} is a secret and is never written to config.toml; "
        f"set the environment variable {env_variable(name, secret)} instead"
    )


def _problems(
    model: type[BaseModel], name: str, table: dict[str, Any], at: Key | None, value: Any
) -> list[tuple[Key, str]]:
    """What is wrong with the effective config made of ``table`` (the file), the
    environment, and (when ``at`` is given) ``value`` at ``at``, which wins over both."""
    from pydantic import ValidationError

    from jafhost.home.config import deep_merge, env_overrides, set_key

    effective = deep_merge(table, env_overrides(name, os.environ))
    if at is not None:
        set_key(effective, at, value)
    try:
        model.model_validate(effective)
    except ValidationError as exc:
        return [
            (tuple(str(p) for p in e["loc"]), str(e["msg"]))
            for e in exc.errors(include_url=False, include_input=False)
        ]
    return []


def _choose(
    model: type[BaseModel],
    name: str,
    key: Key,
    text: str,
    table: dict[str, Any],
    warnings: list[str],
) -> Any:
    """The value to write at ``key`` given the file's current table: ``text`` as JSON
    when that validates, else as a string. Raises ``UsageError`` (nothing written) when
    neither validates, a secret would be written, or TOML cannot hold the value.

    Only problems at ``key`` (or that the new value causes) block the write; problems
    the config already had elsewhere are reported as warnings.
    """
    from jafhost.home.config import dotted, secret_keys, set_key

    parsed = _parse_value(text)
    candidates = [parsed] if isinstance(parsed, str) and parsed == text else [parsed, text]
    before = set(_problems(model, name, table, None, None))
    refusal: str | None = None
    for candidate in candidates:
        if _toml_value(candidate) is None:
            refusal = refusal or (
                f"invalid value for [plugins.{name}] {dotted(key)}: TOML has no null; "
                f"to use the default, remove {dotted(key)} from config.toml"
            )
            continue
        new_table = copy.deepcopy(table)
        set_key(new_table, key, candidate)
        for secret in secret_keys(model):
            if secret[: len(key)] == key and _present(new_table, secret):
                raise UsageError(_secret_refusal(name, secret))
        problems = _problems(model, name, new_table, key, candidate)
        blocking = [
            (loc, msg) for loc, msg in problems if _overlaps(loc, key) or (loc, msg) not in before
        ]
        if not blocking:
            for loc, msg in problems:
                warnings.append(
                    f"config [plugins.{name}] {dotted(loc) or '(table)'}: {msg} "
                    "(the plugin will not load until this is fixed)"
                )
            return candidate
        if refusal is None:
            loc, msg = blocking[0]
            where = dotted(loc) or dotted(key)
            refusal = f"invalid value for [plugins.{name}] {where}: {msg}"
    raise UsageError(refusal or f"invalid value for [plugins.{name}] {dotted(key)}")


def _overlaps(loc: Key, key: Key) -> bool:
    """An error at ``key``, below it, or at a table above it (not the whole model)."""
    return loc[: len(key)] == key or (bool(loc) and key[: len(loc)] == loc)


def _present(table: dict[str, Any], key: Key) -> bool:
    current: Any = table
    for part in key:
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True
