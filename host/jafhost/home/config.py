"""``config.toml``: host settings under ``[host]``, each plugin's under ``[plugins.NAME]``.

Reading lives here (writing is ``config_edit``); the host validates a plugin's table
against the model the plugin returns from ``jaf_config_schema`` when it loads the plugin.

A plugin's effective configuration is its ``[plugins.NAME]`` table with environment
overrides on top (``plugin_config_table``): ``JAFHOST_<PLUGIN>__<FIELD>``, the plugin
name upper-cased with ``-`` turned into ``_``, nested fields joined by further ``__``
(``JAFHOST_NOTES_SEARCH__LIMITS__MAX=5`` sets ``limits.max``). The environment wins over
the file. Fields typed ``SecretStr`` (or ``SecretBytes``, ``Secret[...]``) are secrets:
they come only from the environment, never from ``config.toml``, and are never printed.
"""

from __future__ import annotations

import copy
import difflib
import sys
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, Secret, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from jafhost.errors import ConfigError, StateError
from jafhost.home.config_fast import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_HOOK_TIMEOUT,
    DEFAULT_MAX_RESULT_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_OPEN_FILES,
    DEFAULT_WORKERS,
)
from jafhost.home.config_fast import (
    PLATFORM_ISOLATION as PLATFORM_ISOLATION,
)
from jafhost.home.config_fast import (
    SANDBOX_PLATFORM as SANDBOX_PLATFORM,
)
from jafhost.home.plugin_tables import (  # the plugin tables, read without pydantic
    ENV_PREFIX as ENV_PREFIX,
)
from jafhost.home.plugin_tables import (
    Key as Key,
)
from jafhost.home.plugin_tables import (
    deep_merge as deep_merge,
)
from jafhost.home.plugin_tables import (
    env_overrides as env_overrides,
)
from jafhost.home.plugin_tables import (
    env_prefix as env_prefix,
)
from jafhost.home.plugin_tables import (
    env_settings as env_settings,
)
from jafhost.home.plugin_tables import (
    env_value as env_value,
)
from jafhost.home.plugin_tables import (
    env_variable as env_variable,
)
from jafhost.home.plugin_tables import (
    plugin_config_table as plugin_config_table,
)
from jafhost.home.plugin_tables import (
    plugin_table as plugin_table,
)
from jafhost.home.plugin_tables import (
    set_key as set_key,
)
from jafhost.safe_read import CONFIG_LIMIT, UnsafeFile, read_text

SECRET_MASK = "**********"
"""What is shown instead of a secret's value (pydantic's own mask)."""


NO_SANDBOX_REASON = (
    f"the worker sandbox needs Linux (this is {sys.platform}): plugins run in process "
    "under the audit guard only"
)


class HostSettings(BaseModel):
    """``[host]`` in ``config.toml``; the defaults are the contract's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    isolation: Literal["inprocess", "process"] = PLATFORM_ISOLATION
    call_timeout: float = Field(DEFAULT_CALL_TIMEOUT, gt=0)
    hook_timeout: float = Field(DEFAULT_HOOK_TIMEOUT, gt=0)
    memory_mb: int = Field(DEFAULT_MEMORY_MB, gt=0)
    open_files: int = Field(DEFAULT_OPEN_FILES, gt=0)
    max_result_mb: int = Field(DEFAULT_MAX_RESULT_MB, gt=0, le=4095)
    """The largest message to or from a worker (its 4-byte length header allows < 4 GiB)."""
    workers_per_plugin: int = Field(DEFAULT_WORKERS, ge=1, le=16)
    """The most worker processes one process-isolated plugin runs at once, one call each
    (the second and later start only while all the others are busy)."""
    plugin_paths: list[str] = []


def config_text(path: Path) -> str:
    """The text of ``config.toml`` (``""`` when there is none), read only when it is a
    regular file of at most ``CONFIG_LIMIT`` bytes (a FIFO or a link to ``/dev/zero`` is
    refused, never read): otherwise ``StateError`` naming it."""
    try:
        return read_text(path, CONFIG_LIMIT)
    except FileNotFoundError:
        return ""
    except UnsafeFile as exc:
        raise StateError(f"{path}: {exc}") from None


def read_config(path: Path) -> dict[str, Any]:
    """The parsed file, or ``{}`` when there is none; bad TOML names the file and line."""
    text = config_text(path)
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise StateError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, or int() refusing a huge number
        raise StateError(f"{path}: invalid TOML: {exc}") from None


def host_settings(config: dict[str, Any], path: Path) -> HostSettings:
    table = config.get("host", {})
    try:
        return HostSettings.model_validate(table)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise StateError(f"{path}: [host] {where}: {error['msg']}") from None


# -- what a plugin's model says about its keys --------------------------------------

_SECRET_TYPES: tuple[type, ...] = (SecretStr, SecretBytes, Secret)


def field_key(name: str, info: FieldInfo) -> str:
    """The key a field has in a table: its (validation) alias, else its name."""
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return info.alias or name


def _members(annotation: Any) -> list[Any]:
    """The types an annotation may take, through ``Annotated``, ``Optional`` and unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _model_member(member: Any) -> type[BaseModel] | None:
    if isinstance(member, type) and issubclass(member, BaseModel):
        return member
    return None


def _is_secret_type(member: Any) -> bool:
    base = get_origin(member) or member
    return isinstance(base, type) and issubclass(base, _SECRET_TYPES)


def _holds_secret(annotation: Any, seen: set[type[BaseModel]]) -> bool:
    """Whether a secret type appears anywhere in ``annotation`` (models included)."""
    for member in _members(annotation):
        if _is_secret_type(member):
            return True
        model = _model_member(member)
        if model is not None:
            if model in seen:
                continue
            seen.add(model)
            if any(_holds_secret(f.annotation, seen) for f in model.model_fields.values()):
                return True
            continue
        if any(_holds_secret(arg, seen) for arg in get_args(member)):
            return True
    return False


def secret_keys(model: type[BaseModel]) -> list[Key]:
    """The keys of ``model``'s secret fields (``SecretStr``, ``SecretBytes``, ``Secret``).

    A secret inside a nested model is named by its full key (``("auth", "token")``); a
    secret inside a list or mapping makes that whole field secret.
    """
    return _secret_keys(model, (), set())


def _secret_keys(model: type[BaseModel], prefix: Key, seen: set[type[BaseModel]]) -> list[Key]:
    if model in seen:
        return []
    seen = seen | {model}
    keys: list[Key] = []
    for name, info in model.model_fields.items():
        key = (*prefix, field_key(name, info))
        members = _members(info.annotation)
        models = [m for m in map(_model_member, members) if m is not None]
        others = [m for m in members if _model_member(m) is None]
        if any(_holds_secret(m, set()) for m in others):
            keys.append(key)
            continue
        for nested in models:
            keys.extend(k for k in _secret_keys(nested, key, seen) if k not in keys)
    return keys


def _is_mapping(member: Any) -> bool:
    base = get_origin(member) or member
    return member is Any or (isinstance(base, type) and issubclass(base, Mapping))


def resolve_key(model: type[BaseModel], parts: Sequence[str]) -> Key | None:
    """``parts`` (a dotted key split on ``.``) as the model's keys, or None if unknown.

    Each part may be a field's key (its alias) or its name; the result uses keys. Past a
    field typed as a mapping (``dict[str, int]``, ``Any``) or in a model that allows
    extra fields, any key is accepted.
    """
    if not parts:
        return None
    part, rest = parts[0], parts[1:]
    fields = model.model_fields
    match = next(
        (
            (name, info)
            for name, info in fields.items()
            if field_key(name, info) == part or name == part
        ),
        None,
    )
    if match is None:
        return tuple(parts) if model.model_config.get("extra") == "allow" else None
    name, info = match
    key = field_key(name, info)
    if not rest:
        return (key,)
    for member in _members(info.annotation):
        nested = _model_member(member)
        if nested is not None:
            found = resolve_key(nested, rest)
            if found is not None:
                return (key, *found)
        elif _is_mapping(member):
            return (key, *rest)
    return None


def known_keys(model: type[BaseModel], prefix: Key = ()) -> list[str]:
    """Every leaf key of ``model``, dotted, for messages (``limits.max``)."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        key = (*prefix, field_key(name, info))
        models = [m for m in map(_model_member, _members(info.annotation)) if m is not None]
        if models and models[0] is not model:
            keys.extend(known_keys(models[0], key))
        else:
            keys.append(".".join(key))
    return keys


def unknown_keys(model: type[BaseModel], table: Mapping[str, Any]) -> list[Key]:
    """The keys of ``table`` that ``model`` has no field for, each named at its shallowest
    unknown level (``typo`` for ``typo.a`` and ``typo.b``). A model that forbids extra
    keys reports them itself; one that allows them has none unknown."""
    found: list[Key] = []
    for leaf in _leaves(table):
        for depth in range(1, len(leaf) + 1):
            if resolve_key(model, leaf[:depth]) is None:
                if leaf[:depth] not in found:
                    found.append(leaf[:depth])
                break
    return found


def closest_key(model: type[BaseModel], key: Sequence[str]) -> str | None:
    """The model's key closest to ``key`` (dotted), if one is close enough."""
    close = difflib.get_close_matches(dotted(key), known_keys(model), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_key_warnings(
    model: type[BaseModel], plugin: str, table: Mapping[str, Any], environ: Mapping[str, str]
) -> list[str]:
    """One sentence per key of ``plugin``'s effective table that its model ignores,
    with the closest real key (and the variable that set it, if one did)."""
    if model.model_config.get("extra") == "forbid":
        return []
    env = env_settings(plugin, environ)
    warnings = []
    for key in unknown_keys(model, table):
        setters = [variable for k, (variable, _) in env.items() if _overlaps(k, key)]
        where = f" (from {', '.join(setters)})" if setters else ""
        close = closest_key(model, key)
        hint = f"; did you mean {close}?" if close else ""
        warnings.append(
            f"config [plugins.{plugin}] {dotted(key)}{where}: not a setting of this plugin, "
            f"ignored{hint}"
        )
    return warnings


# -- validation and what ``config show`` reports ------------------------------------


def dotted(key: Sequence[Any]) -> str:
    return ".".join(str(part) for part in key)


def _overlaps(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """One key is the other or lies below it."""
    n = min(len(a), len(b))
    return tuple(a[:n]) == tuple(b[:n])


def _leaves(table: Mapping[str, Any], prefix: Key = ()) -> list[Key]:
    keys: list[Key] = []
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            keys.extend(_leaves(value, (*prefix, str(key))))
        else:
            keys.append((*prefix, str(key)))
    return keys


def _lookup(table: Mapping[str, Any], key: Key) -> tuple[bool, Any]:
    current: Any = table
    for part in key:
        if not isinstance(current, Mapping) or part not in current:
            return False, None
        current = current[part]
    return True, current


def secrets_in_file(
    model: type[BaseModel], plugin: str, file_table: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Problems for secret fields that ``config.toml`` sets (secrets come from the
    environment only)."""
    problems = []
    for key in secret_keys(model):
        present, _ = _lookup(file_table, key)
        if present:
            problems.append(
                (
                    dotted(key),
                    "a secret must not be in config.toml; set the environment "
                    f"variable {env_variable(plugin, key)} instead",
                )
            )
    return problems


def validation_problems(
    exc: ValidationError, env: Mapping[Key, tuple[str, Any]]
) -> list[tuple[str, str]]:
    """pydantic's errors as (key, message), naming the variable that set a value."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(str(part) for part in error["loc"])
        where = dotted(loc) or "(table)"
        setters = [variable for key, (variable, _) in env.items() if loc and _overlaps(key, loc)]
        if setters:
            where += f" (from {', '.join(setters)})"
        problems.append((where, str(error["msg"])))
    return problems


def _placeholder(model: type[BaseModel], key: Key) -> str:
    """What a message shows for a field's value: ``PATH``, ``NUMBER``, ``JSON`` or ``VALUE``."""
    current: type[BaseModel] | None = model
    annotation: Any = None
    for part in key:
        if current is None:
            return "VALUE"
        info = next(
            (i for n, i in current.model_fields.items() if field_key(n, i) == part or n == part),
            None,
        )
        if info is None:
            return "VALUE"
        annotation = info.annotation
        current = next(filter(None, map(_model_member, _members(annotation))), None)
    members = [get_origin(m) or m for m in _members(annotation) if m is not type(None)]
    if current is not None or any(m in (list, dict, tuple, set) for m in members):
        return "JSON"
    if any(isinstance(m, type) and issubclass(m, Path) for m in members):
        return "PATH"
    if any(m in (int, float) for m in members):
        return "NUMBER"
    return "VALUE"


def setting_hint(model: type[BaseModel], plugin: str, key: Key) -> str:
    """How a user sets ``key``: ``jafhost config set sqlite database PATH (or
    JAFHOST_SQLITE__DATABASE=PATH)``; for a secret, only its environment variable."""
    value = _placeholder(model, key)
    variable = f"{env_variable(plugin, key)}={value}"
    if any(_overlaps(key, secret) for secret in secret_keys(model)):
        return f"{variable} in the environment (a secret)"
    return f"jafhost config set {plugin} {dotted(key)} {value} (or {variable})"


def needed_settings(exc: ValidationError, model: type[BaseModel], plugin: str) -> dict[str, str]:
    """The required fields ``exc`` says are missing, keyed as ``validation_problems`` keys
    them, each with how to set it (``setting_hint``). Only fields of models: an entry
    missing from a list or mapping has no command of its own."""
    needs: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(str(part) for part in error["loc"])
        if error["type"] == "missing" and loc and resolve_key(model, loc) == loc:
            needs[dotted(loc)] = setting_hint(model, plugin, loc)
    return needs


def validate_plugin_config(
    model: type[BaseModel], plugin: str, config: dict[str, Any], environ: Mapping[str, str]
) -> BaseModel:
    """Validate ``plugin``'s effective table (file + environment) against ``model``.

    Raises ``ConfigError`` naming the plugin, each field and its problem: a value the
    model refuses, a required field that is missing (with the command that sets it), or a
    secret field written in ``config.toml``.
    """
    env = env_settings(plugin, environ)
    problems = secrets_in_file(model, plugin, plugin_table(config, plugin))
    needs: dict[str, str] = {}
    instance: BaseModel | None = None
    try:
        instance = model.model_validate(plugin_config_table(config, plugin, environ))
    except ValidationError as exc:
        problems += validation_problems(exc, env)
        needs = needed_settings(exc, model, plugin)
    if problems or instance is None:
        raise ConfigError(plugin, problems, needs)
    return instance


def mask_secrets(values: dict[str, Any], secrets: Sequence[Key]) -> dict[str, Any]:
    """A copy of ``values`` with every secret that is set replaced by ``SECRET_MASK``."""
    masked = copy.deepcopy(values)
    for key in secrets:
        parent: Any = masked
        for part in key[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and parent.get(key[-1]) is not None:
            parent[key[-1]] = SECRET_MASK
    return masked


@dataclass
class ConfigReport:
    """A plugin's effective configuration, secrets masked, with where each value came from.

    ``sources`` maps each leaf key (dotted) to ``file``, ``env`` or ``default``;
    ``env`` maps the keys set from the environment to the variable that set them.
    """

    plugin: str
    values: dict[str, Any]
    sources: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "config": self.values,
            "sources": self.sources,
            "env": self.env,
            "secrets": self.secrets,
            "env_prefix": env_prefix(self.plugin),
        }


def _source(key: Key, file_keys: list[Key], env_keys: Sequence[Key]) -> str:
    if any(_overlaps(key, k) for k in env_keys):
        return "env"
    if any(_overlaps(key, k) for k in file_keys):
        return "file"
    return "default"


def _value_keys(instance: BaseModel, prefix: Key = ()) -> list[Key]:
    keys: list[Key] = []
    for name, info in type(instance).model_fields.items():
        key = (*prefix, field_key(name, info))
        value = getattr(instance, name, None)
        if isinstance(value, BaseModel) and type(value).model_fields:
            keys.extend(_value_keys(value, key))
        else:
            keys.append(key)
    return keys


def explain_config(
    model: type[BaseModel], plugin: str, config: dict[str, Any], environ: Mapping[str, str]
) -> ConfigReport:
    """Validate (``ConfigError`` if invalid) and report the effective configuration."""
    instance = validate_plugin_config(model, plugin, config, environ)
    secrets = secret_keys(model)
    values = mask_secrets(instance.model_dump(mode="json", by_alias=True), secrets)
    env = env_settings(plugin, environ)
    file_keys = _leaves(plugin_table(config, plugin))
    return _report(plugin, values, _value_keys(instance), file_keys, env, secrets)


def _report(
    plugin: str,
    values: dict[str, Any],
    keys: Sequence[Key],
    file_keys: list[Key],
    env: Mapping[Key, tuple[str, Any]],
    secrets: Sequence[Key],
) -> ConfigReport:
    """Where each value came from (file, environment or default) and which variable set it."""
    sources: dict[str, str] = {}
    setters: dict[str, str] = {}
    for key in keys:
        sources[dotted(key)] = _source(key, file_keys, list(env))
        for env_key, (variable, _) in env.items():
            if _overlaps(key, env_key):
                setters[dotted(key)] = variable
    return ConfigReport(
        plugin=plugin,
        values=values,
        sources=sources,
        env=setters,
        secrets=[dotted(k) for k in secrets],
    )


def _schema_secret_keys(schema: Mapping[str, Any]) -> list[Key]:
    """Secret keys read from a recorded JSON Schema (pydantic writes secrets as
    ``"format": "password"``, ``"writeOnly": true``)."""
    defs = schema.get("$defs", {})

    def variants(node: Any, depth: int = 0) -> list[Mapping[str, Any]]:
        """``node`` and what its ``$ref`` and ``anyOf``/``oneOf``/``allOf`` stand for."""
        if not isinstance(node, Mapping) or depth > 20:
            return []
        found = [node]
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found += variants(defs.get(ref.removeprefix("#/$defs/")), depth + 1)
        for combinator in ("anyOf", "oneOf", "allOf"):
            for option in node.get(combinator, []) or []:
                found += variants(option, depth + 1)
        return found

    def holds_secret(node: Any, inside: bool, depth: int) -> bool:
        """A secret here, or anywhere in a list or mapping (``inside``) below here."""
        if depth > 20:
            return False
        for part in variants(node):
            if part.get("format") == "password" or part.get("writeOnly") is True:
                return True
            below: list[Any] = [part.get("items"), part.get("additionalProperties")]
            below += list(part.get("prefixItems", []) or [])
            if inside and isinstance(part.get("properties"), Mapping):
                below += list(part["properties"].values())
            if any(holds_secret(b, True, depth + 1) for b in below if isinstance(b, Mapping)):
                return True
        return False

    def walk(node: Any, prefix: Key, depth: int) -> list[Key]:
        keys: list[Key] = []
        for part in variants(node):
            properties = part.get("properties")
            if not isinstance(properties, Mapping) or depth > 20:
                continue
            for name, sub in properties.items():
                key = (*prefix, str(name))
                if holds_secret(sub, False, 0):
                    keys.append(key)
                else:
                    keys.extend(k for k in walk(sub, key, depth + 1) if k not in keys)
        return keys

    return walk(schema, (), 0)


def explain_unvalidated(
    schema: Mapping[str, Any], plugin: str, config: dict[str, Any], environ: Mapping[str, str]
) -> ConfigReport:
    """Report file + environment values without the model (only a recorded JSON Schema):
    nothing is validated, secrets (as the schema marks them) are masked, defaults are
    left to the schema."""
    secrets = _schema_secret_keys(schema)
    env = env_settings(plugin, environ)
    file_keys = _leaves(plugin_table(config, plugin))
    values = mask_secrets(plugin_config_table(config, plugin, environ), secrets)
    for key in secrets:  # a secret that sits under a value that is not a table
        for leaf in _leaves(values):
            if _overlaps(leaf, key) and len(leaf) < len(key):
                values = mask_secrets(values, [leaf])
    return _report(plugin, values, _leaves(values), file_keys, env, secrets)


def schema_keys(schema: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The dotted keys a recorded JSON Schema names, and whether it can hold others too
    (``additionalProperties``, a mapping-typed field: then an unknown key proves
    nothing)."""
    defs = schema.get("$defs", {})
    keys: list[str] = []
    open_ended = False

    def options(node: Any, depth: int) -> list[Mapping[str, Any]]:
        if not isinstance(node, Mapping) or depth > 20:
            return []
        found = [node]
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found += options(defs.get(ref.removeprefix("#/$defs/")), depth + 1)
        for combinator in ("anyOf", "oneOf", "allOf"):
            for option in node.get(combinator, []) or []:
                found += options(option, depth + 1)
        return found

    def walk(node: Any, prefix: str, depth: int) -> None:
        nonlocal open_ended
        for part in options(node, 0):
            extra = part.get("additionalProperties")
            if extra is not None and extra is not False:
                open_ended = True
            properties = part.get("properties")
            if not isinstance(properties, Mapping) or depth > 20:
                continue
            for name, sub in properties.items():
                key = f"{prefix}{name}"
                nested = any(isinstance(o.get("properties"), Mapping) for o in options(sub, 0))
                if nested:
                    walk(sub, key + ".", depth + 1)
                else:
                    keys.append(key)
                    if any(o.get("additionalProperties") not in (None, False)
                           for o in options(sub, 0)):  # fmt: skip
                        open_ended = True

    walk(schema, "", 0)
    return list(dict.fromkeys(keys)), open_ended


# -- questions about a config model, answered where the model lives ------------------------

MODEL_QUESTIONS = ("resolve", "secret_keys", "closest", "known", "explain", "problems", "schema")
"""What ``config show``/``config set`` ask of a plugin's model: the host asks its own
copy (in process) or the plugin's worker (process isolation), where the model class and
its validators run as the plugin."""


def answer_model_question(
    model: type[BaseModel], plugin: str, question: str, args: Sequence[Any]
) -> Any:
    """The JSON answer to ``question`` (one of ``MODEL_QUESTIONS``) about ``model``."""
    if question == "resolve":
        found = resolve_key(model, [str(p) for p in args[0]])
        return list(found) if found is not None else None
    if question == "secret_keys":
        return [list(k) for k in secret_keys(model)]
    if question == "closest":
        return closest_key(model, [str(p) for p in args[0]])
    if question == "known":
        return known_keys(model)
    if question == "explain":
        try:
            return {"report": explain_config(model, plugin, dict(args[0]), dict(args[1])).to_json()}
        except ConfigError as exc:
            return {"error": str(exc)}
    if question == "problems":
        try:
            model.model_validate(dict(args[0]))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            return [[[str(p) for p in e["loc"]], str(e["msg"])] for e in errors]
        return []
    if question == "schema":
        try:
            return model.model_json_schema()
        except Exception:  # a type pydantic cannot describe: show the rest
            return None
    raise ValueError(f"unknown question about a config model: {question!r}")


def report_from_json(data: Mapping[str, Any]) -> ConfigReport:
    """A ``ConfigReport`` as ``ConfigReport.to_json`` wrote it."""
    return ConfigReport(
        plugin=str(data["plugin"]),
        values=dict(data.get("config") or {}),
        sources={str(k): str(v) for k, v in dict(data.get("sources") or {}).items()},
        env={str(k): str(v) for k, v in dict(data.get("env") or {}).items()},
        secrets=[str(s) for s in data.get("secrets") or []],
    )
