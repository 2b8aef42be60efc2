"""Model providers: the turn format, the registry, the scripted provider, and the OpenAI
provider talking to a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jafhost.agents.providers import (
    ModelToolCall,
    ModelTurn,
    ProviderFactory,
    available,
    provider_for,
    split_model,
)
from jafhost.agents.providers.builtin import BuiltinProviders
from jafhost.agents.providers.openai_compat import OpenAIProvider
from jafhost.agents.providers.scripted import ScriptedProvider
from jafhost.errors import ProviderError, UsageError
from openai_stub import OpenAIStub

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "shop__lookup_order",
            "description": "Look up an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "integer"}},
                "required": ["order_id"],
            },
        },
    }
]

pytestmark = pytest.mark.usefixtures("local_only")


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub([], lifetime=30) as server:
        yield server


def _lines(path: Path, *turns: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in turns), encoding="utf-8")
    return path


# -- the turn format -----------------------------------------------------------------


def test_turn_from_json_generates_ids_and_decodes_arguments() -> None:
    turn = ModelTurn.from_json(
        {
            "content": "checking",
            "tool_calls": [
                {"name": "shop.lookup_order", "arguments": {"order_id": 1}},
                {"id": "mine", "name": "shop__lookup_order", "arguments": '{"order_id": 2}'},
                {"name": "shop.lookup_order"},
                {"name": "shop.lookup_order", "arguments": "{not json"},
                {"name": "shop.lookup_order", "arguments": [1, 2]},
            ],
        }
    )
    assert turn.content == "checking"
    first, second, third, bad_json, not_object = turn.tool_calls
    assert first.id and first.id != second.id and second.id == "mine"
    assert first.arguments == {"order_id": 1} and second.arguments == {"order_id": 2}
    assert third.arguments == {} and third.error is None
    assert bad_json.error is not None and "not valid JSON" in bad_json.error
    assert not_object.error == "the arguments must be a JSON object, not list"


@pytest.mark.parametrize(
    "data,message",
    [
        ([], "expected a JSON object"),
        ({"content": "x", "tools": []}, "unknown key(s) tools"),
        ({"content": 3}, "content must be a string"),
        ({"tool_calls": {"name": "x"}}, "tool_calls must be a list"),
        ({"tool_calls": [{"arguments": {}}]}, "tool_calls[0]: name must be a tool name"),
        ({"tool_calls": [{"name": "a.b", "args": {}}]}, "tool_calls[0]: unknown key(s) args"),
    ],
)
def test_turn_from_json_names_what_is_wrong(data: Any, message: str) -> None:
    with pytest.raises(ProviderError, match=r"^here: ") as caught:
        ModelTurn.from_json(data, "here")
    assert message in str(caught.value)


def test_split_model() -> None:
    assert split_model("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_model("scripted:/tmp/a:b.jsonl") == ("scripted", "/tmp/a:b.jsonl")
    assert split_model("echo") == ("echo", None)
    assert split_model("echo:") == ("echo", None)


# -- the registry ------------------------------------------------------------------------


class Echo:
    """Says back what it was told."""

    def __init__(self, name: str = "echo") -> None:
        self.name = name

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str | None
    ) -> ModelTurn:
        return ModelTurn(f"{model}: {messages[-1]['content']}")


def test_registry_lists_builtins_then_plugin_providers() -> None:
    infos = available(
        [("p1", Echo()), ("p2", Echo("openai")), ("p3", object()), ("p4", Echo("bad:name"))]
    )
    assert [(i.name, i.plugin, i.shadowed) for i in infos] == [
        ("scripted", None, False),
        ("openai", None, False),
        ("echo", "p1", False),
        ("openai", "p2", True),
    ]
    assert infos[2].description == "Says back what it was told."


def test_resolve_plugin_provider_and_unknown_names(tmp_path: Path) -> None:
    echo = Echo()
    resolved = provider_for("echo:small", [("p1", echo)])
    assert resolved.provider is echo and resolved.model == "small"
    assert resolved.plugin == "p1" and not resolved.owned
    with pytest.raises(UsageError) as caught:
        provider_for("gpt-4o:x", [("p1", echo)])
    assert str(caught.value) == (
        "unknown model provider 'gpt-4o' in 'gpt-4o:x' (known: scripted, openai, echo)"
    )
    with pytest.raises(UsageError, match="names no provider"):
        provider_for(":x")


def test_builtin_names_win_over_plugin_providers(tmp_path: Path) -> None:
    script = _lines(tmp_path / "s.jsonl", {"content": "hi"})
    resolved = provider_for(f"scripted:{script}", [("p1", Echo("scripted"))])
    assert isinstance(resolved.provider, ScriptedProvider) and resolved.owned


def test_builtins_are_a_plugin_seen_through_the_same_path() -> None:
    factories = BuiltinProviders().jaf_model_providers()
    assert [(f.name, f.description) for f in factories] == [
        (i.name, i.description) for i in available() if i.plugin is None
    ]
    assert all(isinstance(f, ProviderFactory) for f in factories)
    assert [i.name for i in available([("p1", Echo())], builtins=[])] == ["echo"]
    with pytest.raises(UsageError, match=r"\(known: echo\)$"):
        provider_for("scripted:x.jsonl", [("p1", Echo())], builtins=[])


def test_a_factory_is_made_per_run_from_its_settings_wherever_it_comes_from() -> None:
    made: list[tuple[str | None, dict[str, Any]]] = []

    def make(model: str | None, settings: dict[str, Any]) -> Echo:
        if settings.get("bad"):
            raise ProviderError("[providers.local] bad: no")
        made.append((model, settings))
        return Echo("local")

    local = ProviderFactory("local", "a model made per run", make)
    config = {"providers": {"local": {"size": 3}}}
    first = provider_for("local:small", [("p1", local)], config)
    second = provider_for("local:small", [("p1", local)], config)
    assert first.provider is not second.provider and first.owned and first.plugin == "p1"
    assert made == [("small", {"size": 3})] * 2
    assert available([("p1", local)], builtins=[])[0].description == "a model made per run"
    with pytest.raises(ProviderError, match=r"^/h/config\.toml: \[providers\.local\] bad"):
        provider_for(
            "local", [("p1", local)], {"providers": {"local": {"bad": 1}}}, "/h/config.toml"
        )


@pytest.mark.parametrize("module", ["base", "registry", "builtin", "scripted", "openai_compat"])
def test_each_provider_module_imports_on_its_own(module: str) -> None:
    """No module of the package needs the package's ``__init__`` to have run first."""
    code = f"import jafhost.agents.providers.{module}"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- scripted ----------------------------------------------------------------------------


def test_scripted_replays_turns_then_says_it_ran_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lines(
        tmp_path / "demo.jsonl",
        {
            "content": "looking",
            "tool_calls": [{"name": "shop.lookup_order", "arguments": {"order_id": 42}}],
        },
        {"content": "done"},
    )
    monkeypatch.chdir(tmp_path)
    provider = provider_for("scripted:demo.jsonl").provider
    assert isinstance(provider, ScriptedProvider)
    assert provider.path == tmp_path / "demo.jsonl"
    monkeypatch.chdir(Path(__file__).parent)  # resolved when made, not on each turn

    async def scenario() -> None:
        messages = [{"role": "user", "content": "where?"}]
        first = await provider.complete(messages, TOOLS, None)
        assert first.content == "looking"
        assert [(c.name, c.arguments) for c in first.tool_calls] == [
            ("shop.lookup_order", {"order_id": 42})
        ]
        assert (await provider.complete(messages, TOOLS, None)).content == "done"
        with pytest.raises(ProviderError, match=r"demo\.jsonl ran out after 2 turn\(s\)"):
            await provider.complete(messages, TOOLS, None)
        assert provider.requests[0] == {"messages": messages, "tools": TOOLS, "model": None}

    asyncio.run(scenario())


def test_scripted_file_problems(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        provider_for(f"scripted:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(UsageError, match="needs a file"):
        provider_for("scripted")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "ok"}\n\n{"content": "x", "tool_calls": [{"nam": 1}]}\n')
    with pytest.raises(ProviderError, match=r"bad\.jsonl:3: tool_calls\[0\]: unknown key"):
        provider_for(f"scripted:{bad}")
    bad.write_text("{oops\n")
    with pytest.raises(ProviderError, match=r"bad\.jsonl:1: not valid JSON"):
        provider_for(f"scripted:{bad}")
    bad.write_text("\n\n")
    with pytest.raises(ProviderError, match="holds no turns"):
        provider_for(f"scripted:{bad}")


# -- openai: set-up --------------------------------------------------------------------


def test_openai_needs_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ImportError
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(ProviderError) as caught:
        provider_for("openai:gpt-4o-mini")
    assert str(caught.value) == (
        "the openai provider needs the openai package: pip install 'jafhost[openai]'"
    )


def test_openai_settings_from_config_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProviderError, match="no API key: set OPENAI_API_KEY"):
        provider_for("openai:gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    plain = provider_for("openai:gpt-4o-mini").provider
    assert isinstance(plain, OpenAIProvider)
    assert (plain.base_url, plain.api_key, plain.default_model) == (
        "http://127.0.0.1:9/v1",
        "from-env",
        "gpt-4o-mini",
    )

    monkeypatch.setenv("LOCAL_KEY", "local")
    config = {
        "providers": {
            "openai": {
                "base_url": "http://127.0.0.1:8/v1",
                "api_key_env": "LOCAL_KEY",
                "model": "llama",
                "max_retries": 0,
                "timeout": 5,
            }
        }
    }
    configured = provider_for("openai", config=config)
    provider = configured.provider
    assert isinstance(provider, OpenAIProvider) and configured.model == "llama"
    assert (provider.base_url, provider.api_key, provider.max_retries, provider.timeout) == (
        "http://127.0.0.1:8/v1",
        "local",
        0,
        5,
    )

    monkeypatch.delenv("LOCAL_KEY")
    keyless = provider_for("openai", config=config).provider
    assert isinstance(keyless, OpenAIProvider) and keyless.api_key == "not-needed"

    with pytest.raises(ProviderError) as caught:
        provider_for(
            "openai:x",
            config={"providers": {"openai": {"base_ur": "x"}}},
            config_source="/h/config.toml",
        )
    assert str(caught.value).startswith("/h/config.toml: [providers.openai] base_ur: Extra")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ProviderError, match="needs a model"):
        provider_for("openai", config={"providers": {"openai": {"base_url": "http://127.0.0.1:8"}}})


# -- openai: against a real OpenAI-compatible server -------------------------------------


def _provider(stub: OpenAIStub) -> OpenAIProvider:
    return OpenAIProvider(
        base_url=stub.url, api_key="test-key", default_model="stub-model", max_retries=0, timeout=10
    )


def test_openai_provider_round_trip(stub: OpenAIStub) -> None:
    stub.script += [
        {
            "content": None,
            "tool_calls": [
                {"id": "call_a", "name": "shop__lookup_order", "arguments": {"order_id": 42}},
                {"id": "call_b", "name": "shop__lookup_order", "arguments": "{broken"},
            ],
        },
        {"content": "It shipped."},
    ]
    provider = _provider(stub)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is order 42?"},
    ]

    async def scenario() -> None:
        try:
            first = await provider.complete(messages, TOOLS, None)
            assert first.content is None
            assert first.tool_calls == [
                ModelToolCall("call_a", "shop.lookup_order", {"order_id": 42}),
                ModelToolCall("call_b", "shop.lookup_order", {}, first.tool_calls[1].error),
            ]
            assert "not valid JSON" in str(first.tool_calls[1].error)
            second = await provider.complete(messages, [], "other-model")
            assert second == ModelTurn("It shipped.", [])
        finally:
            await provider.aclose()

    asyncio.run(scenario())
    first, second = stub.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["authorization"] == "Bearer test-key"
    assert first["body"]["model"] == "stub-model"
    assert first["body"]["messages"] == messages
    assert first["body"]["tools"] == TOOLS
    assert second["body"]["model"] == "other-model"
    assert "tools" not in second["body"]  # no tools: none offered, not an empty list


def test_openai_provider_errors_are_clear(stub: OpenAIStub) -> None:
    stub.script.append({"status": 503, "error": "overloaded"})
    provider = _provider(stub)
    url = stub.url

    async def scenario() -> None:
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.complete([{"role": "user", "content": "hi"}], [], None)
            assert str(caught.value) == f"{url}/ answered HTTP 503: overloaded"
        finally:
            await provider.aclose()
        stub.stop()
        gone = _provider_at(url)
        try:
            with pytest.raises(ProviderError, match=r"^cannot reach http://127\.0\.0\.1"):
                await gone.complete([{"role": "user", "content": "hi"}], [], None)
        finally:
            await gone.aclose()

    asyncio.run(scenario())


def _provider_at(url: str) -> OpenAIProvider:
    return OpenAIProvider(base_url=url, api_key="k", default_model="m", max_retries=0, timeout=5)
