"""The two steps both one-shot lanes take to reach a recorded plain tool: register the
plugin as a start does and take its one hook, ``jaf_tools``; then find the function it
returned for the tool, with its plain parameters.

The in-process lane (``cli.oneshot``) runs them in the plugin's thread under its
identity, the one-shot worker (``runtime.isolation.one_shot``) in the plugin's sandboxed
worker: the same checks in both, so both hand the call over in the same cases. Whatever
is not as the record says raises ``NotAsRecorded``, and the lane lets the full path
serve the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NotAsRecorded(Exception):
    """The plugin, once imported, is not what its record says; the message says how."""


def tools_hook(name: str, obj: Any) -> Callable[..., Any]:
    """Register ``obj`` as plugin ``name`` (its hook names checked, as a start does);
    its ``jaf_tools`` implementation, when that is the only hook it implements, takes
    no argument and is not a coroutine function."""
    import inspect

    from jafhost.runtime.hook_names import mistakes
    from jafhost.runtime.plugin_manager import make_plugin_manager

    pm = make_plugin_manager()
    if mistakes(pm, obj):
        raise NotAsRecorded("its hooks have mistakes")
    pm.register(obj, name=name)
    callers = pm.get_hookcallers(obj) or []
    impls = [(c.name, i) for c in callers for i in c.get_hookimpls() if i.plugin is obj]
    if len(impls) != 1 or impls[0][0] != "jaf_tools" or impls[0][1].argnames:
        raise NotAsRecorded("its hooks are not what was recorded")
    if inspect.iscoroutinefunction(impls[0][1].function):
        raise NotAsRecorded("its jaf_tools is async")
    function: Callable[..., Any] = impls[0][1].function
    return function


def find_tool(functions: Any, name: str) -> tuple[Callable[..., Any], Any]:
    """The one function ``jaf_tools`` returned for tool ``name`` (its ``@tool`` name, else
    its ``__name__``) and its plain parameters (``plain_params.plain_parameters``: None
    when they are not plain)."""
    from jafhost.runtime.plain_params import plain_parameters

    if not isinstance(functions, list | tuple):
        raise NotAsRecorded("jaf_tools returned no list")
    found = []
    for fn in functions:
        options = getattr(fn, "__jaf_tool__", None)
        if str(getattr(options, "name", None) or getattr(fn, "__name__", "")) == name:
            found.append(fn)
    if len(found) != 1:
        raise NotAsRecorded(f"jaf_tools returned {len(found)} tools named {name}")
    # the lane plans only tools that are synchronous and run without confirmation:
    # one that now asks for it (or awaits) is the full path's, which asks (or awaits)
    if getattr(getattr(found[0], "__jaf_tool__", None), "confirm", False):
        raise NotAsRecorded(f"tool {name} asks for confirmation")
    import inspect

    if inspect.iscoroutinefunction(found[0]):
        raise NotAsRecorded(f"tool {name} is async")
    return found[0], plain_parameters(found[0])
