"""``jafhost config show`` and ``jafhost config set``: a plugin's configuration.

A plugin's configuration is its ``[plugins.NAME]`` table in ``config.toml`` with the
``JAFHOST_<PLUGIN>__<FIELD>`` environment variables on top (``jafhost.home.config``),
validated by the pydantic model the plugin returns from ``jaf_config_schema``; both
commands load the plugin through the host to get that model. Secret values are never
printed. Exit statuses, and what happens for a plugin isolated in a worker:
docs/architecture.md, "``jafhost config show`` and ``config set``".
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

T = TypeVar("T")

if TYPE_CHECKING:
    import asyncio

    from pydantic import BaseModel

    from jafhost.home.config import ConfigReport, Key
    from jafhost.host.host import Host
    from jafhost.host.views import PluginView
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


class InvalidConfig(Failed):
    """The effective configuration does not validate (exit 1, each problem named)."""


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


class ConfigModel:
    """A plugin's config model as ``config show``/``config set`` use it: questions
    (``home.config.MODEL_QUESTIONS``) answered by the model itself, in this process for
    a plugin that runs here, in its worker for a process-isolated one (its model class
    and validators never run in the host then)."""

    def __init__(self, plugin: str, answer: Callable[[str, list[Any]], Any]) -> None:
        self.plugin = plugin
        self._answer = answer

    def ask(self, question: str, *args: Any) -> Any:
        return self._answer(question, list(args))

    def resolve(self, parts: Sequence[str]) -> Key | None:
        found = self.ask("resolve", list(parts))
        return tuple(found) if found is not None else None

    def secret_keys(self) -> list[Key]:
        return [tuple(k) for k in self.ask("secret_keys")]

    def closest(self, parts: Sequence[str]) -> str | None:
        found = self.ask("closest", list(parts))
        return str(found) if found is not None else None

    def known(self) -> list[str]:
        return [str(k) for k in self.ask("known")]

    def explain(self, config: dict[str, Any], environ: dict[str, str]) -> ConfigReport:
        """The effective configuration; ``Failed`` (exit 1) when it is invalid."""
        from jafhost.home.config import report_from_json

        answer = self.ask("explain", config, environ)
        if "error" in answer:
            raise InvalidConfig(str(answer["error"]))
        return report_from_json(answer["report"])

    def problems(self, effective: dict[str, Any]) -> list[tuple[Key, str]]:
        return [(tuple(loc), str(msg)) for loc, msg in self.ask("problems", effective)]

    def schema(self) -> Any:
        return self.ask("schema")


def _plugin_environ(name: str) -> dict[str, str]:
    """The variables that configure plugin ``name`` (all its model needs to see)."""
    from jafhost.home.config import env_prefix

    prefix = env_prefix(name)
    return {k: v for k, v in os.environ.items() if k.startswith(prefix)}


@contextlib.contextmanager
def config_model(host: Host, name: str) -> Iterator[ConfigModel | None]:
    """Plugin ``name``'s config model while the block runs, or None if it declares none.

    Activates the plugin (and the plugins it needs) through ``host`` on a private event
    loop and deactivates everything after the block. Raises ``Failed`` when its code
    cannot run: not enabled, failed to import, blocked, or a ``jaf_config_schema`` that
    fails; ``ModelUnavailable`` when its worker did not start it.
    """
    import asyncio

    view = host.plugin(name)  # UsageError for an unknown plugin
    if view.status != "enabled":
        why = f": {view.reason}" if view.reason else ""
        raise Failed(
            f"cannot load plugin {name} to read its config schema: it is {view.status}{why}"
        )
    loop = asyncio.new_event_loop()
    try:
        if view.isolation == "process":
            yield _worker_model(loop, host, view)
            return
        try:
            loaded = loop.run_until_complete(host.activate(name))
        except PluginError as exc:
            raise Failed(f"cannot load plugin {name}: {exc}") from None
        model = loop.run_until_complete(_ask_model(host, loaded))
        if model is None:
            yield None
            return
        from jafhost.home.config import answer_model_question

        found = model
        from jafhost.runtime.scope import plain

        def answer(question: str, args: list[Any]) -> Any:
            # as the plugin: the model's validators, serializers and schema hooks are its
            # code; the answer leaves its scope as plain JSON values
            return _as_plugin(
                host, name, lambda: plain(answer_model_question(found, name, question, args))
            )

        yield ConfigModel(name, answer)
    finally:
        try:
            loop.run_until_complete(host.deactivate_all())
            for worker in host.runtime.config_workers:
                worker.kill()
            host.runtime.config_workers.clear()
        finally:
            loop.close()


def _worker_model(
    loop: asyncio.AbstractEventLoop, host: Host, view: PluginView
) -> ConfigModel | None:
    """The model of a process-isolated plugin, in a worker of its own that only imports
    the plugin (so an invalid configuration can still be shown and repaired): each
    question is a request to it. The worker ends with the block (``config_model``)."""
    from jafhost.runtime.isolation import zygote_switch
    from jafhost.runtime.isolation.client import WorkerClient, WorkerError

    zygote_switch.one_shot()  # one worker, then the process ends: spawned, not forked
    name = view.name
    worker = WorkerClient(host.runtime.worker_spec(view.info, {}))
    host.runtime.config_workers.append(worker)
    try:
        reply = loop.run_until_complete(
            worker.boot({"op": "load_model", "hook_timeout": host.hook_timeout})
        )
    except WorkerError as exc:
        raise Failed(f"cannot load plugin {name} in its worker process: {exc}") from None
    if not reply.get("has_config"):
        return None

    def answer(question: str, args: list[Any]) -> Any:
        return loop.run_until_complete(worker.config_model(question, args))

    model = ConfigModel(name, answer)
    _record_schema(host, name, model.schema())  # for `show` while it cannot load
    return model


def _record_schema(host: Host, name: str, schema: Any) -> None:
    from jafhost.atomic import write_atomic

    if schema is None:
        return
    path = host.layout.schema_file(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(schema, indent=2).encode("utf-8"), durable=False)
    except OSError:
        pass  # only a convenience for a later `show`


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


def _as_plugin(host: Host, name: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` as plugin ``name``: the model's validators, serializers and schema
    hooks are its code, checked against its grants. The command's own errors pass."""
    from jafhost.errors import ConfigError
    from jafhost.runtime.scope import run_in_scope

    def body() -> tuple[Any, BaseException | None]:
        try:
            return fn(*args), None
        except (Failed, UsageError, ConfigError) as exc:  # messages the host wrote
            return None, exc

    value, error = run_in_scope(host.identity(name), body)
    if error is not None:
        raise error
    return value  # type: ignore[no-any-return]


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
    from jafhost.home.config import explain_unvalidated, read_config

    host = build_host()
    host.plugin(name)
    config = read_config(host.layout.config)
    try:
        with config_model(host, name) as model:
            if model is None:
                warn(host)
                _show_none(host, name, config, as_json)
                return
            report = model.explain(config, _plugin_environ(name))  # Failed: exit 1
            schema = model.schema()
    except InvalidConfig:
        raise
    except Failed as exc:
        # its code could not run: show what the JSON Schema recorded at its last load allows
        recorded = host.recorded_config_schema(name)
        problem = exc.problem if isinstance(exc, ModelUnavailable) else None
        if problem is not None and problem.startswith("config"):
            raise Failed(problem) from None  # the worker's own validation error
        if recorded is None:
            raise
        unvalidated = explain_unvalidated(recorded, name, config, os.environ)
        note = f"not validated: {exc}; the schema shown was recorded at its last load"
        warn(host)
        _show(unvalidated, recorded, validated=False, note=note, as_json=as_json)
        return
    warn(host)
    _show(report, schema, validated=True, note=None, as_json=as_json)


def _show_none(host: Host, name: str, config: dict[str, Any], as_json: bool) -> None:
    """``config show`` of a plugin that declares no configuration."""
    from jafhost.home.config import plugin_table

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
    from jafhost.home.config import dotted, env_prefix

    host = build_host()
    host.plugin(name)
    parts = key.split(".")
    if not all(parts):
        raise UsageError(f"bad config key {quoted(key)} for plugin {name}: empty part")
    warnings: list[str] = []
    try:
        with config_model(host, name) as model:
            written, resolved = _set_value(host, name, model, parts, key, value, warnings)
    except ModelUnavailable as exc:
        _refuse_unknown_key(host, name, key)
        raise Failed(
            f"{exc}: cannot validate a value for it; edit [plugins.{name}] in "
            f"{host.layout.config} (validated when the plugin loads) or set "
            f"{env_prefix(name)}<FIELD> variables"
        ) from None
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


def _set_value(
    host: Host,
    name: str,
    model: ConfigModel | None,
    parts: list[str],
    key: str,
    value: str,
    warnings: list[str],
) -> tuple[Any, Key]:
    """Check ``key`` against the model and write the value it accepts; what was written
    and the key as the model spells it."""
    from jafhost.home.config_edit import set_plugin_value

    warn(host)
    if model is None:
        raise UsageError(
            f"plugin {name} declares no configuration (it has no jaf_config_schema), "
            f"so it has no key {quoted(key)}"
        )
    resolved = model.resolve(parts)
    if resolved is None:
        close = model.closest(parts)
        hint = f"did you mean {close}? " if close else ""
        known = ", ".join(model.known()) or "none"
        raise UsageError(f"plugin {name} has no config key {quoted(key)} ({hint}known: {known})")
    secrets = model.secret_keys()
    for secret in secrets:
        if resolved[: len(secret)] == secret:
            raise UsageError(_secret_refusal(name, secret))
    found = resolved
    written = set_plugin_value(
        host.layout.config,
        name,
        resolved,
        lambda table: _choose(model, secrets, name, found, value, table, warnings),
    )
    return written, resolved


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
    model: ConfigModel, name: str, table: dict[str, Any], at: Key | None, value: Any
) -> list[tuple[Key, str]]:
    """What is wrong with the effective config made of ``table`` (the file), the
    environment, and (when ``at`` is given) ``value`` at ``at``, which wins over both."""
    from jafhost.home.config import deep_merge, env_overrides, set_key

    effective = deep_merge(table, env_overrides(name, os.environ))
    if at is not None:
        set_key(effective, at, value)
    return model.problems(effective)


def _choose(
    model: ConfigModel,
    secrets: list[Key],
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
    from jafhost.home.config import dotted, set_key

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
        for secret in secrets:
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
