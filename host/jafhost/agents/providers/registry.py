"""Which providers a run may use, and which one ``provider:model`` names.

Every provider comes from a plugin's ``jaf_model_providers``: first the built-in
plugin's (``builtin.py``; ``plugin`` None), then the active plugins' in activation
order. One list, one lookup: the first provider with the name wins, so built-in names
win over plugin providers of the same name (a plugin cannot stand in for the OpenAI
provider and read what was meant for it) and, between plugins, the first active one.
A ``ProviderFactory`` is made for the run from its ``[providers.NAME]`` table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from jafhost.agents.providers.base import (
    ProviderFactory,
    ProviderInfo,
    ResolvedProvider,
    split_model,
    usable,
)
from jafhost.agents.providers.builtin import builtin_providers
from jafhost.errors import ProviderError, UsageError, quoted

LOGGER = logging.getLogger("jafhost")

Source = tuple[str | None, Any]
"""``(plugin, provider)``; plugin None for the built-in plugin's providers."""


def _sources(plugin_providers: Iterable[Source], builtins: Iterable[Any] | None) -> list[Source]:
    if builtins is None:
        builtins = builtin_providers()
    return [(None, provider) for provider in builtins] + list(plugin_providers)


def _catalog(sources: list[Source]) -> list[ProviderInfo]:
    infos: list[ProviderInfo] = []
    seen: set[str] = set()
    for plugin, obj in sources:
        if not usable(obj):
            LOGGER.warning(
                "plugin %s: model provider %r has no usable name (no ':') or complete()",
                plugin,
                obj,
            )
            continue
        doc = (getattr(obj, "description", None) or (type(obj).__doc__ or "")).strip()
        infos.append(
            ProviderInfo(obj.name, plugin, doc.splitlines()[0] if doc else "", obj.name in seen)
        )
        seen.add(obj.name)
    return infos


def available(
    plugin_providers: Iterable[Source] = (), *, builtins: Iterable[Any] | None = None
) -> list[ProviderInfo]:
    """Built-ins, then plugin providers (``(plugin, provider)`` in activation order).

    ``builtins``: the built-in plugin's providers (default: those it ships with).
    """
    return _catalog(_sources(plugin_providers, builtins))


def provider_for(
    spec: str,
    plugin_providers: Iterable[Source] = (),
    config: Mapping[str, Any] | None = None,
    config_source: str = "config.toml",
    *,
    builtins: Iterable[Any] | None = None,
) -> ResolvedProvider:
    """The provider for ``provider:model``.

    ``config`` is the parsed ``config.toml`` (``[providers.NAME]`` tables), and
    ``config_source`` its path for messages. ``UsageError`` for an unknown provider
    (naming the known ones), a malformed spec or a missing script file;
    ``ProviderError`` when a known provider cannot be set up (missing package, no API
    key, bad settings).
    """
    name, model = split_model(spec)
    sources = _sources(plugin_providers, builtins)
    if not name:
        raise UsageError(f"model {quoted(spec)} names no provider: use provider:model")
    for plugin, obj in sources:
        if not usable(obj) or obj.name != name:
            continue
        if isinstance(obj, ProviderFactory):
            return _make(obj, model, spec, plugin, config or {}, config_source)
        return ResolvedProvider(obj, model, spec, plugin=plugin)
    known = ", ".join(dict.fromkeys(i.name for i in _catalog(sources)))
    raise UsageError(f"unknown model provider {quoted(name)} in {quoted(spec)} (known: {known})")


def _make(
    factory: ProviderFactory,
    model: str | None,
    spec: str,
    plugin: str | None,
    config: Mapping[str, Any],
    config_source: str,
) -> ResolvedProvider:
    table = _provider_table(config, factory.name, config_source)
    try:
        provider = factory.make(model, table)
    except ProviderError as exc:
        message = str(exc)
        if message.startswith("[providers."):
            message = f"{config_source}: {message}"
        raise ProviderError(message) from None
    return ResolvedProvider(
        provider,
        model or getattr(provider, "default_model", None),
        spec,
        plugin=plugin,
        owned=True,
    )


def _provider_table(config: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    providers = config.get("providers", {})
    if not isinstance(providers, Mapping):
        raise ProviderError(f"{source}: providers must be a table of [providers.NAME] tables")
    table = providers.get(name, {})
    if not isinstance(table, Mapping):
        raise ProviderError(f"{source}: [providers.{name}] must be a table")
    return dict(table)
