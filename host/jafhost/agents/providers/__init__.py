"""Model providers: what an agent run asks for its next turn.

A model is chosen with a string ``provider:model``: ``scripted:demo.jsonl`` replays a
file, ``openai:gpt-4o-mini`` asks an OpenAI-compatible server, ``NAME:model`` asks the
provider called ``NAME`` that a plugin returns from ``jaf_model_providers``. The
built-in providers come from a built-in plugin through the same hook and win over
plugin providers of the same name; they read ``[providers.NAME]`` in ``config.toml``
(docs/embedding.md, "Model providers").

The modules: ``base`` (the provider protocol and the turn format), ``registry``
(listing and lookup), ``builtin`` (the built-in plugin), ``scripted`` and
``openai_compat`` (the built-in providers, imported only when a run uses them).
"""

from __future__ import annotations

from jafhost.agents.providers.base import (
    ModelProvider,
    ModelToolCall,
    ModelTurn,
    ProviderFactory,
    ProviderInfo,
    ResolvedProvider,
    is_provider,
    new_call_id,
    parse_arguments,
    split_model,
)
from jafhost.agents.providers.registry import available, provider_for
from jafhost.errors import ProviderError

__all__ = [
    "ModelProvider",
    "ModelToolCall",
    "ModelTurn",
    "ProviderError",
    "ProviderFactory",
    "ProviderInfo",
    "ResolvedProvider",
    "available",
    "is_provider",
    "new_call_id",
    "parse_arguments",
    "provider_for",
    "split_model",
]
