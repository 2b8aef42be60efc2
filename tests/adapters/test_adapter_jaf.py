"""The jaf-py adapter: host tools as real jaf-py Tools, run by jaf's own engine.

The model is a scripted jaf ``ModelProvider`` (no LLM, no network); everything else is
real: installed plugin distributions, an activated ``Host``, jaf-py from the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest

# litellm (imported by jaf) fetches a price list from the network unless told not to
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
jaf = pytest.importorskip("jaf")

from conftest import ISOLATION_MODES, Site  # noqa: E402
from jafhost.adapters.jaf import (  # noqa: E402
    JafTool,
    JafUnavailable,
    jaf_agent,
    jaf_tools,
)
from jafhost.host.host import Host  # noqa: E402

MakeHost = Callable[..., Host]

CALC = """
import asyncio
from typing import Annotated
from pydantic import Field
from jafhost import AgentSpec, tool

def add(a: int, b: Annotated[int, Field(description="second number")], c: int = 0) -> int:
    '''Add numbers.

    Args:
        a: first number
    '''
    return a + b + c

async def shout(text: str) -> dict:
    return {"text": text.upper()}

def fail(message: str) -> None:
    raise ValueError(message)

async def hang() -> str:
    await asyncio.sleep(30)
    return "never"

@tool(confirm=True)
def erase(what: str) -> str:
    '''Erase something; asks first.'''
    return "erased " + what

@hookimpl
def jaf_tools():
    return [add, shout, fail, hang, erase]

@hookimpl
def jaf_agents():
    return [
        AgentSpec(name="mathy", instructions="Add things up.", tools=("calc.add", "calc.f*")),
        AgentSpec(name="janitor", instructions="Clean up.", tools=("calc.erase",)),
    ]
"""

GUARD = """
from jafhost import PermissionDenied

CALLS = []

@hookimpl(wrapper=True)
def jaf_tool_call(call):
    CALLS.append((call.name, dict(call.arguments)))
    if call.arguments.get("a") == 13:
        raise PermissionDenied("unlucky number", permission="calc:13")
    return (yield)
"""


def _run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


@pytest.fixture(params=ISOLATION_MODES)
def host(request: pytest.FixtureRequest, site: Site, make_host: MakeHost) -> Host:
    site.plugin("calc", code=CALC)
    made = make_host()
    made.enable(["calc"], isolation=request.param)
    return made


def _by_name(tools: list[JafTool]) -> dict[str, JafTool]:
    return {t.schema.name: t for t in tools}


class ScriptedModel:
    """A jaf ``ModelProvider`` that replays model turns and records what jaf sent it."""

    def __init__(self, *turns: dict[str, Any]) -> None:
        self.turns = list(turns)
        self.requests: list[dict[str, Any]] = []

    async def get_completion(self, state: Any, agent: Any, config: Any) -> dict[str, Any]:
        self.requests.append(
            {
                "tools": [t.schema.name for t in agent.tools or []],
                "schemas": {
                    t.schema.name: t.schema.parameters.model_json_schema()
                    for t in agent.tools or []
                },
                "messages": list(state.messages),
            }
        )
        return self.turns.pop(0)


def _calls(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "message": {
            "content": None,
            "tool_calls": [
                {
                    "id": cid,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for cid, name, args in calls
            ],
        }
    }


def _say(text: str) -> dict[str, Any]:
    return {"message": {"content": text, "tool_calls": None}}


async def _jaf_run(agent: Any, model: ScriptedModel, state: Any) -> Any:
    """jaf's engine; its debug prints go to a buffer, never to the real stdout."""
    from jaf.core.engine import run
    from jaf.core.types import RunConfig

    config = RunConfig(
        agent_registry={agent.name: agent},
        model_provider=model,
        max_turns=6,
        prefer_streaming=False,
    )
    with contextlib.redirect_stdout(io.StringIO()):
        return await run(state, config)


def _start(agent: Any, text: str) -> Any:
    from jaf.core.types import (
        ContentRole,
        Message,
        RunState,
        generate_run_id,
        generate_trace_id,
    )

    return RunState(
        run_id=generate_run_id(),
        trace_id=generate_trace_id(),
        messages=[Message(role=ContentRole.USER, content=text)],
        current_agent_name=agent.name,
        context={"user": "test"},
        turn_count=0,
    )


def _tool_messages(state: Any) -> dict[str, dict[str, Any]]:
    return {
        m.tool_call_id: json.loads(m.content)
        for m in state.messages
        if str(getattr(m.role, "value", m.role)) == "tool"
    }


def test_host_tools_are_real_jaf_tools(host: Host) -> None:
    from jaf.core.types import Tool as JafProtocol
    from jaf.core.types import ToolSchema

    async def scenario() -> None:
        async with host:
            tools = _by_name(jaf_tools(host))
            assert list(tools) == [
                "calc__add",
                "calc__shout",
                "calc__fail",
                "calc__hang",
                "calc__erase",
            ]
            add = tools["calc__add"]
            assert isinstance(add, JafProtocol) and isinstance(add.schema, ToolSchema)
            assert add.schema.description == "Add numbers."
            assert add.schema.timeout is None
            schema = add.schema.parameters.model_json_schema()
            assert schema["properties"]["a"]["description"] == "first number"
            assert schema["properties"]["b"]["description"] == "second number"
            assert schema["required"] == ["a", "b"]
            model = host.tool("calc.add").arguments_model
            if host.isolation_of("calc") == "inprocess":
                assert add.schema.parameters is model
            else:  # validated in the worker: jaf gets the tool's schema as it is
                assert model is None
                assert schema == host.tool("calc.add").input_schema
            assert add.needs_approval is False
            assert callable(tools["calc__erase"].needs_approval)

            assert list(_by_name(jaf_tools(host, ["calc.s*", "calc.add"]))) == [
                "calc__add",
                "calc__shout",
            ]
            assert list(_by_name(jaf_tools(host, "calc.fail"))) == ["calc__fail"]
            assert jaf_tools(host, []) == []
            limited = jaf_tools(host, ["calc.hang"], timeout=0.2)[0]
            assert limited.schema.timeout == pytest.approx(1.2)

    _run(scenario())


def test_execute_routes_through_the_host(site: Site, make_host: MakeHost) -> None:
    site.plugin("calc", code=CALC)
    # middleware that sees other plugins' calls needs observe; in process, so the test
    # can read what it saw (its calls across the worker boundary: tests/runtime)
    guard = site.plugin("guard", code=GUARD, manifest="[permissions]\nobserve = true\n")
    host = make_host(approve=True)
    host.enable(["calc", "guard"], isolation="inprocess")

    async def scenario() -> None:
        async with host:
            tools = _by_name(jaf_tools(host))
            add, shout, fail = tools["calc__add"], tools["calc__shout"], tools["calc__fail"]

            # what jaf's engine passes: an instance of the parameters model
            done = await add.execute(add.schema.parameters.model_validate({"a": 1, "b": 2}), {})
            assert (done.status, done.data, done.error) == ("success", 3, None)
            assert jaf.tool_result_to_string(done) == "3"
            # a plain dict works too, and the host coerces and fills in defaults
            assert (await add.execute({"a": "4", "b": 5}, None)).data == 9
            loud = await shout.execute({"text": "hi"}, None)
            assert loud.data == {"text": "HI"}
            assert json.loads(jaf.tool_result_to_string(loud)) == {"text": "HI"}

            bad = await add.execute({"a": "x", "d": 1}, None)
            assert bad.status == "validation_error" and bad.error.code == "INVALID_INPUT"
            assert bad.error.message.startswith("invalid arguments: a: ")
            assert bad.error.details["code"] == "invalid_arguments"
            assert {f["field"] for f in bad.error.details["fields"]} == {"a", "b", "d"}
            assert (await add.execute("not an object", None)).status == "validation_error"

            failed = await fail.execute({"message": "no luck"}, None)
            assert failed.status == "error" and failed.error.code == "EXECUTION_FAILED"
            assert failed.error.message == "ValueError: no luck"
            assert failed.error.details["exception"] == "ValueError"
            text = json.loads(jaf.tool_result_to_string(failed))
            assert (text["error"], text["code"]) == ("error", "EXECUTION_FAILED")

            # the host's middleware saw the calls, and its refusal is a structured result
            refused = await add.execute({"a": 13, "b": 0}, None)
            assert refused.status == "permission_denied"
            assert refused.error.code == "PERMISSION_DENIED"
            assert refused.error.details["permission"] == "calc:13"
            calls = sys.modules[guard].CALLS
            assert ("calc.add", {"a": 1, "b": 2, "c": 0}) in calls
            assert ("calc.shout", {"text": "hi"}) in calls

            # the host's time limit
            hang = jaf_tools(host, ["calc.hang"], timeout=0.2)[0]
            late = await hang.execute({}, None)
            assert late.status == "error" and late.error.code == "TIMEOUT"
            assert late.error.message == "timed out after 0.2 s"

            # confirm=True: refused unless someone says yes (jaf's approval or a policy)
            erase = tools["calc__erase"]
            no = await erase.execute({"what": "disk"}, None)
            assert no.status == "permission_denied"
            assert "needs your confirmation" in no.error.message
            asked: list[dict[str, Any]] = []

            def say_yes(tool: Any, args: dict[str, Any]) -> bool:
                asked.append(args)
                return True

            yes = jaf_tools(host, ["calc.erase"], confirm=say_yes)[0]
            assert (await yes.execute({"what": "disk"}, None)).data == "erased disk"
            assert asked == [{"what": "disk"}]

            # a tool whose plugin stopped
            await host.deactivate("calc")
            gone = await add.execute({"a": 1, "b": 2}, None)
            assert gone.status == "not_found" and gone.error.code == "NOT_FOUND"
            assert "calc" in gone.error.message

    _run(scenario())


def test_a_jaf_agent_turn_calls_host_tools(host: Host) -> None:
    async def scenario() -> None:
        async with host:
            agent = jaf_agent(host, "mathy", model="scripted-model")
            assert agent.name == "mathy" and agent.model_config.name == "scripted-model"
            assert agent.instructions(None) == "Add things up."
            model = ScriptedModel(
                _calls(
                    ("c1", "calc__add", {"a": 2, "b": 3}),
                    ("c2", "calc__fail", {"message": "boom"}),
                    ("c3", "calc__add", {"a": "two"}),
                    ("c4", "calc__erase", {"what": "disk"}),
                ),
                _say("2 + 3 = 5"),
            )
            result = await _jaf_run(agent, model, _start(agent, "What is 2 + 3?"))
            assert result.outcome.status == "completed", result.outcome
            assert result.outcome.output == "2 + 3 = 5"

            first = model.requests[0]
            assert first["tools"] == ["calc__add", "calc__fail"]  # the spec's globs only
            assert first["schemas"]["calc__add"]["required"] == ["a", "b"]
            replies = _tool_messages(result.final_state)
            assert replies["c1"]["hitl_status"] == "executed" and replies["c1"]["result"] == "5"
            error = json.loads(replies["c2"]["result"])
            assert (error["code"], error["message"]) == ("EXECUTION_FAILED", "ValueError: boom")
            if host.isolation_of("calc") == "inprocess":
                # jaf validates with the same model before it calls the tool
                assert replies["c3"]["hitl_status"] == "validation_error"
            else:  # the worker validates: the host's refusal is the tool's result
                assert json.loads(replies["c3"]["result"])["code"] == "INVALID_INPUT"
            # not one of mathy's tools
            assert replies["c4"]["hitl_status"] == "tool_not_found"
            # the model saw every tool result on its next turn
            seen = {m.tool_call_id for m in model.requests[1]["messages"] if m.tool_call_id}
            assert seen == {"c1", "c2", "c3", "c4"}

    _run(scenario())


def test_jaf_approval_is_the_confirmation(host: Host) -> None:
    from jaf.core.types import ApprovalValue

    async def scenario() -> None:
        async with host:
            agent = jaf_agent(host, host.agent("janitor").spec)
            assert [t.schema.name for t in agent.tools] == ["calc__erase"]
            model = ScriptedModel(_calls(("e1", "calc__erase", {"what": "disk"})), _say("Erased."))
            paused = await _jaf_run(agent, model, _start(agent, "Erase the disk"))
            assert paused.outcome.status == "interrupted"
            [interruption] = paused.outcome.interruptions
            assert interruption.tool_call.id == "e1"
            assert "e1" not in _tool_messages(paused.final_state)

            approved = replace(
                paused.final_state,
                approvals={"e1": ApprovalValue(status="approved", approved=True)},
            )
            result = await _jaf_run(agent, model, approved)
            assert result.outcome.status == "completed", result.outcome
            reply = _tool_messages(result.final_state)["e1"]
            assert reply["hitl_status"] == "approved_and_executed"
            assert reply["result"] == "erased disk"

    _run(scenario())


def test_missing_jaf_says_how_to_install(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jaf.core.types", None)
    with pytest.raises(JafUnavailable, match=r"pip install 'jafhost\[jaf\]'"):
        jaf_tools(host)


def test_jafs_run_context_reaches_the_tool_as_metadata(site: Site, make_host: MakeHost) -> None:
    site.plugin(
        "ctxjaf",
        code="""
from jafhost import RunContext

def who(run: RunContext) -> dict:
    return {"caller": run.caller, "metadata": dict(run.metadata)}

@hookimpl
def jaf_tools():
    return [who]
""",
    )
    host = make_host()

    async def scenario() -> None:
        async with host:
            (who,) = jaf_tools(host, ["ctxjaf.*"])
            context = {"user_id": "u1", "handler": print}
            result = await who.execute({}, context)
            assert result.data == {"caller": "api", "metadata": {"user_id": "u1"}}

    asyncio.run(scenario())
