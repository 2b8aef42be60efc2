"""The built-in plugin: the ``scripted`` and ``openai`` providers, offered through
``jaf_model_providers`` like any plugin's (as llm ships OpenAI as a default plugin and
datasette its ``DEFAULT_PLUGINS``).

The host registers ``BuiltinProviders`` in its plugin manager as ``BUILTIN_PLUGIN``
without discovery: it has no distribution, manifest or permissions, is always on, and
is not listed by ``jafhost list``; its providers run as the host, not as a plugin
(``ProviderInfo.plugin`` is None). They come first, so a plugin's provider of the same
name cannot stand in for them. Each is a ``ProviderFactory``: made for each run from
the model part and ``config.toml``'s ``[providers.NAME]`` table; the OpenAI provider's
module (pydantic, the ``openai`` extra) is imported only then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jafhost.agents.providers.base import ModelProvider, ProviderFactory
from jafhost.agents.providers.scripted import ScriptedProvider
from jafhost.errors import ProviderError, UsageError
from jafhost.hookspecs import hookimpl

if TYPE_CHECKING:
    import pluggy

BUILTIN_PLUGIN = "jafhost.builtin-providers"
"""Its name in the plugin manager (a ``.`` no plugin name can hold, so none collides)."""


def _scripted(model: str | None, settings: dict[str, Any]) -> ModelProvider:
    if settings:
        raise ProviderError("[providers.scripted] takes no settings")
    if not model:
        raise UsageError("the scripted provider needs a file: --model scripted:PATH.jsonl")
    return ScriptedProvider(model)


def _openai(model: str | None, settings: dict[str, Any]) -> ModelProvider:
    from jafhost.agents.providers.openai_compat import OpenAIProvider

    return OpenAIProvider.from_settings(settings, model=model)


class BuiltinProviders:
    """The host's own plugin: the model providers that ship with jafhost."""

    @hookimpl
    def jaf_model_providers(self) -> list[ProviderFactory]:
        return [
            ProviderFactory(
                "scripted",
                "replays model turns from a JSONL file (offline demos and tests)",
                _scripted,
            ),
            ProviderFactory(
                "openai",
                "an OpenAI-compatible chat completions API (extra jafhost[openai])",
                _openai,
            ),
        ]


def builtin_providers(pm: pluggy.PluginManager | None = None) -> list[Any]:
    """The built-in plugin's providers: from the one registered in ``pm`` (none if it
    was unregistered), or from a fresh one without ``pm`` (the registry on its own)."""
    if pm is None:
        return list(BuiltinProviders().jaf_model_providers())
    caller = getattr(pm.hook, "jaf_model_providers", None)
    for impl in caller.get_hookimpls() if caller is not None else ():
        if impl.plugin_name == BUILTIN_PLUGIN:
            return list(impl.function() or [])
    return []
