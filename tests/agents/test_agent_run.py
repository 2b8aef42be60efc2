"""Agent runs over real, installed plugins: agents from ``jaf_agents``, tools from
``jaf_tools``, providers built in (scripted, openai against a real OpenAI-compatible
server on 127.0.0.1) and from ``jaf_model_providers``; the CLI end to end."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Site, run_cli
from jafhost.agents import run as agent_run
from jafhost.agents.providers.builtin import BUILTIN_PLUGIN, BuiltinProviders
from jafhost.agents.providers.scripted import ScriptedProvider
from jafhost.agents.run import Step
from jafhost.errors import PluginError, UsageError
from jafhost.host.host import Host
from openai_stub import OpenAIStub

MakeHost = Callable[..., Host]

SHOP = """
from jafhost import AgentSpec, PluginContext, tool

def lookup_order(order_id: int) -> dict:
    '''Look up an order by its number.

    Args:
        order_id: the order number.
    '''
    return {"order": order_id, "status": "shipped"}

def refund(order_id: int, ctx: PluginContext) -> str:
    '''Refund an order (leaves a mark in the plugin's data folder).'''
    (ctx.data_dir / f"refunded-{order_id}").write_text("yes")
    return f"refunded {order_id}"

@tool(confirm=True)
def cancel(order_id: int, ctx: PluginContext) -> str:
    '''Cancel an order; asks the user first.'''
    (ctx.data_dir / f"cancelled-{order_id}").write_text("yes")
    return f"cancelled {order_id}"

@hookimpl
def jaf_tools():
    return [lookup_order, refund, cancel]

@hookimpl
def jaf_agents():
    return [
        AgentSpec("support", "You answer questions about orders.",
                  tools=("shop.lookup_*", "calc.add"), description="Answers order questions"),
        AgentSpec("clerk", "You refund orders.", tools=("shop.*",),
                  description="Refunds orders", model="echo:fast"),
    ]
"""

CALC = """
def add(a: int, b: int) -> int:
    '''Add two numbers.'''
    return a + b

@hookimpl
def jaf_tools():
    return [add]
"""

MODELS = """
import asyncio
from jafhost.agents.providers import ModelToolCall, ModelTurn

class Echo:
    '''Refunds order 7, then repeats what the tool said.'''
    name = "echo"

    async def complete(self, messages, tools, model):
        last = messages[-1]
        if last["role"] == "user":
            return ModelTurn(None, [ModelToolCall("c1", "shop__refund", {"order_id": 7})])
        return {"content": f"{model} says: {last['content']}"}

class Broken:
    name = "broken"
    async def complete(self, messages, tools, model):
        raise RuntimeError("model exploded")

class Garbage:
    name = "garbage"
    def complete(self, messages, tools, model):
        return 42

class Slow:
    name = "slow"
    async def complete(self, messages, tools, model):
        await asyncio.sleep(30)

class Quitter:
    name = "quitter"
    def complete(self, messages, tools, model):
        raise SystemExit(3)

@hookimpl
def jaf_model_providers():
    return [Echo(), Broken(), Garbage(), Slow(), Quitter()]
"""

SUPPORT_TOOLS = ["shop.lookup_*", "calc.add"]

pytestmark = pytest.mark.usefixtures("local_only")


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _script(path: Path, *turns: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(t) + "\n" for t in turns), encoding="utf-8")
    return path


@pytest.fixture
def plugins(site: Site) -> Site:
    site.plugin("shop", code=SHOP)
    site.plugin("calc", code=CALC)
    site.plugin("models", code=MODELS)
    return site


@pytest.fixture
def host(plugins: Site, make_host: MakeHost) -> Host:
    return make_host()


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub([], lifetime=60) as server:
        yield server


ORDER_SCRIPT = (
    {
        "content": "Let me check.",
        "tool_calls": [
            {"name": "shop.lookup_order", "arguments": {"order_id": 42}},
            {"name": "calc__add", "arguments": {"a": 40, "b": 2}},
        ],
    },
    {"content": "Order 42 has shipped."},
)


# -- finding agents --------------------------------------------------------------------


def test_agents_are_listed_and_found(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            assert [(a.full_name, a.plugin, a.spec.tools) for a in host.agents()] == [
                ("shop.support", "shop", ("shop.lookup_*", "calc.add")),
                ("shop.clerk", "shop", ("shop.*",)),
            ]
            assert host.agent("support").full_name == "shop.support"
            assert host.agent("shop.clerk").spec.model == "echo:fast"
            with pytest.raises(UsageError) as caught:
                host.agent("suport")
            assert str(caught.value) == (
                "unknown agent 'suport' (known: shop.support, shop.clerk); "
                "did you mean shop.support?"
            )
            assert [(p.name, p.plugin) for p in host.providers()] == [
                ("scripted", None),
                ("openai", None),
                ("echo", "models"),
                ("broken", "models"),
                ("garbage", "models"),
                ("slow", "models"),
                ("quitter", "models"),
            ]

    _run(scenario())


def test_the_builtin_providers_are_a_plugin_the_host_always_has(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            assert isinstance(host.pm.get_plugin(BUILTIN_PLUGIN), BuiltinProviders)
            assert BUILTIN_PLUGIN not in [view.name for view in host.plugins()]
            host.pm.unregister(name=BUILTIN_PLUGIN)
            assert [p.name for p in host.providers()][:2] == ["echo", "broken"]
            with pytest.raises(UsageError, match="unknown model provider 'scripted'"):
                await host.run_agent("support", "hi", model="scripted:x.jsonl")

    _run(scenario())


def test_ambiguous_and_inactive_agents(plugins: Site, make_host: MakeHost) -> None:
    plugins.plugin(
        "desk",
        code="""
from jafhost import AgentSpec

@hookimpl
def jaf_agents():
    return [AgentSpec("support", "Desk support.")]
""",
    )
    host = make_host()

    async def scenario(expect_desk: bool) -> None:
        async with host:
            if expect_desk:
                with pytest.raises(
                    UsageError,
                    match=r"ambiguous: use one of desk\.support, "
                    r"shop\.support",
                ):
                    host.agent("support")
                assert host.agent("desk.support").plugin == "desk"
            else:
                assert host.agent("support").plugin == "shop"
                with pytest.raises(PluginError) as caught:
                    host.agent("desk.support")
                assert str(caught.value) == (
                    "agent desk.support is not available: "
                    "plugin desk is disabled: disabled by the user"
                )

    _run(scenario(True))
    host.disable(["desk"])
    _run(scenario(False))


# -- a scripted conversation ------------------------------------------------------------


def test_scripted_conversation_calls_tools_and_finishes(host: Host, tmp_path: Path) -> None:
    provider = ScriptedProvider(_script(tmp_path / "order.jsonl", *ORDER_SCRIPT))
    seen: list[Step] = []

    async def scenario() -> None:
        async with host:
            run = await host.run_agent(
                "support", "Where is my order 42?", provider=provider, on_step=seen.append
            )
            assert (run.ok, run.stop, run.output, run.turns, run.error) == (
                True,
                "final",
                "Order 42 has shipped.",
                2,
                None,
            )
            assert run.agent == "shop.support" and run.model == "scripted"
            assert seen == run.steps
            assert [(s.kind, s.tool) for s in run.steps] == [
                ("text", None),
                ("tool_call", "shop.lookup_order"),
                ("tool_result", "shop.lookup_order"),
                ("tool_call", "calc.add"),
                ("tool_result", "calc.add"),
                ("text", None),
            ]
            assert [r.result for r in run.tool_results] == [{"order": 42, "status": "shipped"}, 42]

            # only the tools the spec allows are offered: not shop.refund
            offered = provider.requests[0]["tools"]
            assert offered == host.tool_definitions("openai", SUPPORT_TOOLS)
            assert {t["function"]["name"] for t in offered} == {"shop__lookup_order", "calc__add"}
            system = {"role": "system", "content": "You answer questions about orders."}
            user = {"role": "user", "content": "Where is my order 42?"}
            assert provider.requests[0]["messages"] == [system, user]
            lookup, add = provider.turns[0].tool_calls
            assert provider.requests[1]["messages"] == [
                system,
                user,
                {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": lookup.id,
                            "type": "function",
                            "function": {
                                "name": "shop__lookup_order",
                                "arguments": '{"order_id": 42}',
                            },
                        },
                        {
                            "id": add.id,
                            "type": "function",
                            "function": {"name": "calc__add", "arguments": '{"a": 40, "b": 2}'},
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": lookup.id,
                    "content": json.dumps(
                        {
                            "ok": True,
                            "tool": "shop.lookup_order",
                            "result": {"order": 42, "status": "shipped"},
                        }
                    ),
                },
                {
                    "role": "tool",
                    "tool_call_id": add.id,
                    "content": json.dumps({"ok": True, "tool": "calc.add", "result": 42}),
                },
            ]
            assert run.messages[-1] == {"role": "assistant", "content": "Order 42 has shipped."}
            data = json.loads(json.dumps(run.to_json()))
            assert data["steps"][2] == {
                "kind": "tool_result",
                "turn": 1,
                "id": lookup.id,
                "tool": "shop.lookup_order",
                "ok": True,
                "result": {"order": 42, "status": "shipped"},
            }

    _run(scenario())


def test_model_string_and_async_on_step(host: Host, tmp_path: Path) -> None:
    script = _script(tmp_path / "order.jsonl", *ORDER_SCRIPT)
    kinds: list[str] = []

    async def record(step: Step) -> None:
        await asyncio.sleep(0)
        kinds.append(step.kind)

    async def scenario() -> None:
        async with host:
            run = await host.run_agent(
                "shop.support", "Where?", model=f"scripted:{script}", on_step=record
            )
            assert run.ok and run.model == f"scripted:{script}"
            again = await host.run_agent(
                "support", "Where?", provider="scripted", model=str(script)
            )
            assert again.output == run.output  # a fresh replay per run

    _run(scenario())
    assert kinds == ["text", "tool_call", "tool_result", "tool_call", "tool_result", "text"]


def test_tool_outside_the_globs_never_runs(host: Host, tmp_path: Path) -> None:
    script = _script(
        tmp_path / "greedy.jsonl",
        {
            "tool_calls": [
                {"name": "shop.refund", "arguments": {"order_id": 9}},
                {"name": "shop__refund", "arguments": {"order_id": 9}},
                {"name": "shop.missing", "arguments": {}},
                {"name": "bogus", "arguments": {}},
            ]
        },
        {"content": "I cannot refund that."},
    )
    marks = host.layout.data_dir("shop")

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("support", "Refund order 9", model=f"scripted:{script}")
            assert run.ok and run.output == "I cannot refund that."
            denied, denied_export, missing, bogus = run.tool_results
            for result in (denied, denied_export):
                assert result.name == "shop.refund" and result.error is not None
                assert result.error.code == "permission_denied"
                assert result.error.message == (
                    "agent shop.support may not use tool shop.refund "
                    "(it may use: shop.lookup_*, calc.add)"
                )
            assert missing.error is not None and missing.error.code == "not_found"
            assert bogus.error is not None and bogus.error.code == "not_found"
            told = json.loads(run.messages[3]["content"])
            assert told["ok"] is False and told["error"]["code"] == "permission_denied"
            assert not (marks / "refunded-9").exists()

            # the control: an agent allowed shop.* does run it (plugin provider, default model)
            clerk = await host.run_agent("clerk", "Refund order 7")
            assert clerk.ok, clerk.error
            assert clerk.model == "echo:fast"
            assert (
                clerk.output == 'fast says: {"ok": true, "tool": "shop.refund", '
                '"result": "refunded 7"}'
            )
            assert (marks / "refunded-7").read_text() == "yes"

    _run(scenario())


def test_bad_arguments_from_the_model_come_back_as_errors(host: Host, tmp_path: Path) -> None:
    script = _script(
        tmp_path / "bad.jsonl",
        {
            "tool_calls": [
                {"name": "shop.lookup_order", "arguments": {"order_id": "forty-two"}},
                {"name": "shop.lookup_order", "arguments": "{not json"},
            ]
        },
        {"content": "Sorry."},
    )

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("support", "Where?", model=f"scripted:{script}")
            typed, unreadable = run.tool_results
            assert typed.error is not None and typed.error.code == "invalid_arguments"
            assert typed.error.fields[0]["field"] == "order_id"
            assert unreadable.error is not None and unreadable.error.code == "invalid_arguments"
            assert "not valid JSON" in unreadable.error.message
            assert run.ok

    _run(scenario())


# -- limits and failures -------------------------------------------------------------------


def test_max_turns(host: Host, tmp_path: Path) -> None:
    loop_turn = {"tool_calls": [{"name": "calc.add", "arguments": {"a": 1, "b": 1}}]}
    script = _script(tmp_path / "loop.jsonl", loop_turn, loop_turn, loop_turn)

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("support", "Count", model=f"scripted:{script}", max_turns=2)
            assert (run.ok, run.stop, run.turns, run.output) == (False, "max_turns", 2, None)
            assert run.error == (
                "agent shop.support hit the limit of 2 turn(s) without a "
                "final answer (it still wanted to call calc.add)"
            )
            assert len(run.tool_results) == 1  # the last turn's calls did not run
            with pytest.raises(UsageError, match="max_turns must be at least 1"):
                await host.run_agent("support", "x", model=f"scripted:{script}", max_turns=0)

            short = await host.run_agent("support", "Count", model=f"scripted:{script}")
            assert short.stop == "provider_error" and short.turns == 4
            assert short.error is not None and "ran out after 3 turn(s)" in short.error

    _run(scenario())


def test_provider_failures_leave_the_host_unharmed(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            active = host.active
            for model, message in [
                ("broken", "model provider broken failed: RuntimeError: model exploded"),
                ("garbage", "provider garbage returned int, not a ModelTurn"),
                ("quitter", "model provider quitter failed: plugin models raised SystemExit: 3"),
            ]:
                run = await host.run_agent("support", "hi", model=model)
                assert (run.ok, run.stop, run.error) == (False, "provider_error", message)
            slow = await agent_run.run_agent(host, "support", "hi", model="slow", model_timeout=0.2)
            assert slow.error == "model provider slow did not answer within 0.2 s"
            assert host.active == active
            assert (await host.call("calc.add", {"a": 2, "b": 3})).result == 5

    _run(scenario())


def test_choosing_a_provider(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            with pytest.raises(UsageError) as caught:
                await host.run_agent("support", "hi", model="nope:x")
            assert str(caught.value) == (
                "unknown model provider 'nope' in 'nope:x' (known: scripted, openai, echo, "
                "broken, garbage, slow, quitter)"
            )
            with pytest.raises(UsageError, match=r"agent shop\.support has no default model"):
                await host.run_agent("support", "hi")
            with pytest.raises(UsageError, match="not a model provider"):
                await host.run_agent("support", "hi", provider=object())
            with pytest.raises(UsageError, match="unknown agent 'nobody'"):
                await host.run_agent("nobody", "hi", model="echo")

    _run(scenario())


# -- the OpenAI provider against a real OpenAI-compatible server ---------------------------


def _openai_config(home: Path, stub: OpenAIStub) -> None:
    (home / "config.toml").write_text(
        f'[providers.openai]\nbase_url = "{stub.url}"\nmax_retries = 0\ntimeout = 10\n',
        encoding="utf-8",
    )


def test_openai_provider_drives_tools(
    host: Host, home: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    _openai_config(home, stub)
    stub.script += [
        {
            "content": None,
            "tool_calls": [
                {"id": "call_1", "name": "shop__lookup_order", "arguments": {"order_id": 42}},
                {"id": "call_2", "name": "shop__refund", "arguments": {"order_id": 42}},
            ],
        },
        {"content": "Order 42 has shipped; I cannot refund it."},
    ]

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("support", "Where is order 42?", model="openai:stub-model")
            assert run.ok, run.error
            assert run.output == "Order 42 has shipped; I cannot refund it."
            assert [(r.name, r.ok) for r in run.tool_results] == [
                ("shop.lookup_order", True),
                ("shop.refund", False),
            ]
            assert not (host.layout.data_dir("shop") / "refunded-42").exists()
            first, second = stub.bodies
            assert first["model"] == "stub-model"
            assert first["tools"] == host.tool_definitions("openai", SUPPORT_TOOLS)
            assert first["messages"] == [
                {"role": "system", "content": "You answer questions about orders."},
                {"role": "user", "content": "Where is order 42?"},
            ]
            assistant, looked, refused = second["messages"][2:]
            assert assistant == {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "shop__lookup_order", "arguments": '{"order_id": 42}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "shop__refund", "arguments": '{"order_id": 42}'},
                    },
                ],
            }
            assert looked["role"] == "tool" and looked["tool_call_id"] == "call_1"
            assert json.loads(looked["content"])["result"] == {"order": 42, "status": "shipped"}
            assert refused["tool_call_id"] == "call_2"
            assert json.loads(refused["content"])["error"]["code"] == "permission_denied"
            assert stub.requests[0]["headers"]["authorization"] == "Bearer test-key"

    _run(scenario())


def test_openai_server_errors_end_the_run(host: Host, home: Path, stub: OpenAIStub) -> None:
    _openai_config(home, stub)  # no key: a custom base URL gets a placeholder
    stub.script.append({"status": 500, "error": "the model is on fire"})

    async def scenario() -> None:
        async with host:
            run = await host.run_agent("support", "hi", model="openai:stub-model")
            assert run.stop == "provider_error"
            assert run.error == f"{stub.url}/ answered HTTP 500: the model is on fire"
            assert stub.requests[0]["headers"]["authorization"] == "Bearer not-needed"
            assert (await host.call("calc.add", {"a": 1, "b": 1})).result == 2

    _run(scenario())


DESK = """
from jafhost import AgentSpec

@hookimpl
def jaf_agents():
    return [AgentSpec("scribe", "You keep notes.", tools=("notes.*",))]
"""


def test_openai_stub_drives_the_sample_notes_plugin(
    site: Site, home: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("jaf_plugin_notes")
    site.plugin("desk", code=DESK)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    _openai_config(home, stub)
    stub.script += [
        {
            "tool_calls": [
                {
                    "name": "notes__add",
                    "arguments": {"title": "groceries", "body": "milk", "tags": ["shopping"]},
                }
            ]
        },
        {"tool_calls": [{"name": "notes__list_notes", "arguments": {"tag": "shopping"}}]},
        {"content": "Noted: groceries."},
    ]
    host = Host(home, paths=[str(site.root), *sys.path], only=["notes", "desk"], hook_timeout=10)

    async def scenario() -> None:
        async with host:
            assert host.active == ["notes", "desk"] or set(host.active) == {"notes", "desk"}
            run = await host.run_agent("scribe", "Remember milk", model="openai:m")
            assert run.ok, run.error
            added, listed = run.tool_results
            assert added.ok and added.result["title"] == "groceries"
            assert listed.ok and [n["title"] for n in listed.result] == ["groceries"]
            offered = {t["function"]["name"] for t in stub.bodies[0]["tools"]}
            assert offered == {"notes__add", "notes__get", "notes__list_notes", "notes__delete"}

    _run(scenario())


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_agents(plugins: Site, home: Path) -> None:
    listed = run_cli("agents", "--json", site=plugins, home=home)
    assert listed.returncode == 0, listed.stderr
    mine = {a["full_name"]: a for a in json.loads(listed.stdout) if a["plugin"] == "shop"}
    assert mine["shop.support"] == {
        "name": "support",
        "full_name": "shop.support",
        "source": "plugin:shop",
        "plugin": "shop",
        "description": "Answers order questions",
        "tools": SUPPORT_TOOLS,
        "model": None,
        "instructions": "You answer questions about orders.",
    }
    table = run_cli("agents", site=plugins, home=home)
    assert table.returncode == 0, table.stderr
    assert "support" in table.stdout and "Refunds orders" in table.stdout
    assert "shop.lookup_*" in table.stdout and "echo:fast" in table.stdout


def test_cli_run_streams_steps(plugins: Site, home: Path, tmp_path: Path) -> None:
    script = _script(tmp_path / "demo.jsonl", *ORDER_SCRIPT)
    ran = run_cli(
        "run",
        "support",
        "Where is my order 42?",
        "--model",
        f"scripted:{script}",
        site=plugins,
        home=home,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == f"shop.support model scripted:{script}"
    assert lines[1:] == [
        "assistant: Let me check.",
        '-> shop.lookup_order {"order_id": 42}',
        '<- shop.lookup_order {"order": 42, "status": "shipped"}',
        '-> calc.add {"a": 40, "b": 2}',
        "<- calc.add 42",
        "assistant: Order 42 has shipped.",
        "done after 2 turn(s)",
    ]
    as_json = run_cli(
        "run",
        "shop.support",
        "Where?",
        "--model",
        f"scripted:{script}",
        "--json",
        site=plugins,
        home=home,
    )
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["ok"], data["output"], data["turns"], data["agent"]) == (
        True,
        "Order 42 has shipped.",
        2,
        "shop.support",
    )
    assert [s["kind"] for s in data["steps"]] == [
        "text",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "text",
    ]

    clerk = run_cli("run", "clerk", "Refund 7", site=plugins, home=home)  # default echo:fast
    assert clerk.returncode == 0, clerk.stderr
    assert '<- shop.refund "refunded 7"' in clerk.stdout


def test_cli_run_failures_and_exit_codes(plugins: Site, home: Path, tmp_path: Path) -> None:
    script = _script(tmp_path / "demo.jsonl", *ORDER_SCRIPT)
    model = f"scripted:{script}"
    cases = [
        (("run", "nobody", "hi", "--model", model), 2, "error: unknown agent 'nobody'"),
        (("run", "support", "hi", "--model", "nope:x"), 2, "error: unknown model provider 'nope'"),
        (("run", "support", "hi"), 2, "error: agent shop.support has no default model"),
        (
            ("run", "support", "hi", "--model", f"scripted:{tmp_path / 'none.jsonl'}"),
            2,
            "error: model script",
        ),
        (
            ("run", "support", "hi", "--model", model, "--max-turns", "1"),
            1,
            "error: agent shop.support hit the limit of 1 turn(s) without a final answer",
        ),
        (
            ("run", "support", "hi", "--model", "broken"),
            1,
            "error: model provider broken failed: RuntimeError: model exploded",
        ),
        (
            ("run", "support", "hi", "--model", "openai:gpt-4o-mini"),
            1,
            "error: the openai provider has no API key",
        ),
    ]
    for args, code, start in cases:
        result = run_cli(*args, site=plugins, home=home)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(start), (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_cli_run_with_the_openai_stub(plugins: Site, home: Path, stub: OpenAIStub) -> None:
    stub.script += [
        {"tool_calls": [{"name": "shop__lookup_order", "arguments": {"order_id": 5}}]},
        {"content": "Order 5 has shipped."},
    ]
    ran = run_cli(
        "run",
        "support",
        "Where is order 5?",
        "--model",
        "openai:stub-model",
        site=plugins,
        home=home,
        env={"OPENAI_BASE_URL": stub.url, "OPENAI_API_KEY": "cli-key"},
    )
    assert ran.returncode == 0, ran.stderr
    assert '<- shop.lookup_order {"order": 5, "status": "shipped"}' in ran.stdout
    assert "assistant: Order 5 has shipped." in ran.stdout
    assert [b["model"] for b in stub.bodies] == ["stub-model", "stub-model"]
    assert stub.requests[0]["headers"]["authorization"] == "Bearer cli-key"


def test_tools_that_ask_first(
    plugins: Site, home: Path, tmp_path: Path, make_host: MakeHost
) -> None:
    script = _script(
        tmp_path / "cancel.jsonl",
        {"tool_calls": [{"name": "shop.cancel", "arguments": {"order_id": 3}}]},
        {"content": "Done."},
    )
    marks = home / "plugins" / "shop" / "data"
    refused = run_cli(
        "run", "clerk", "Cancel 3", "--model", f"scripted:{script}", site=plugins, home=home
    )
    assert refused.returncode == 0, refused.stderr
    assert "<- shop.cancel failed (permission_denied)" in refused.stdout
    assert "warning: refused shop.cancel: it needs your confirmation" in refused.stderr
    assert not (marks / "cancelled-3").exists()
    allowed = run_cli(
        "run",
        "clerk",
        "Cancel 3",
        "--model",
        f"scripted:{script}",
        "--yes",
        site=plugins,
        home=home,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert '<- shop.cancel "cancelled 3"' in allowed.stdout
    assert (marks / "cancelled-3").read_text() == "yes"

    host = make_host()
    asked: list[str] = []

    def confirm(tool: Any, arguments: dict[str, Any]) -> bool:
        asked.append(f"{tool.full_name} {arguments}")
        return False

    async def scenario() -> None:
        async with host:
            run = await host.run_agent(
                "clerk", "Cancel 3", model=f"scripted:{script}", confirm=confirm
            )
            assert run.tool_results[0].error is not None
            assert "it was refused" in run.tool_results[0].error.message

    _run(scenario())
    assert asked == ["shop.cancel {'order_id': 3}"]


def test_cli_run_json_on_failure(plugins: Site, home: Path, tmp_path: Path) -> None:
    script = _script(tmp_path / "demo.jsonl", *ORDER_SCRIPT)
    failed = run_cli(
        "run",
        "support",
        "hi",
        "--model",
        f"scripted:{script}",
        "--max-turns",
        "1",
        "--json",
        site=plugins,
        home=home,
    )
    assert failed.returncode == 1
    data = json.loads(failed.stdout)
    assert (data["ok"], data["stop"], data["turns"]) == (False, "max_turns", 1)
    assert failed.stderr.startswith("error: agent shop.support hit the limit of 1 turn(s)")
