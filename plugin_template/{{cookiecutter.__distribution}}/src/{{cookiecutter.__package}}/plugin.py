"""The {{ cookiecutter.plugin_name }} plugin's hook implementations (entry point ``{{ cookiecutter.plugin_name }}``).

jafhost calls the functions marked ``@hookimpl`` by name; every hook is optional, and
each may be sync or async. The lifecycle: ``jaf_initialize`` once per load, then
``jaf_activate``; the plugin serves tool calls; ``jaf_deactivate`` when the host stops it.

A tool is a plain typed function. Its full name is ``{{ cookiecutter.plugin_name }}.<function name>``;
the host builds its schema from the type hints and the docstring (the first line
describes the tool, ``Args:`` the parameters), validates the arguments before the
function runs, and turns an exception into a ``tool_error`` for the agent. A parameter
annotated ``PluginContext`` is injected by the host and left out of the schema.

No ``from __future__ import annotations`` on purpose: the host reads the tools' type
hints at run time, so they must stay real objects rather than strings.
"""
{% if cookiecutter.permissions == "read" %}
import os
{%- elif cookiecutter.permissions == "net" %}
import urllib.error
import urllib.request
{%- endif %}
from collections.abc import Callable
from typing import Annotated, Any

from jafhost import PluginContext, hookimpl
from pydantic import Field


@hookimpl
def jaf_initialize(ctx: PluginContext) -> None:
    """Prepare the plugin: open files and clients here, once per load.

    ``ctx.data_dir`` is this plugin's own folder (``$PLUGIN_DATA``), which it may always
    read and write; ``ctx.config`` is its validated configuration (see ``jaf_config_schema``
    in jafhost's hookspecs), None when it declares none.
    """
    ctx.logger.info("%s: data folder %s", ctx.name, ctx.data_dir)


@hookimpl
def jaf_deactivate(ctx: PluginContext) -> None:
    """Release what ``jaf_initialize`` opened; the host calls it once when it stops the plugin."""
    ctx.logger.info("%s: stopped", ctx.name)


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    """The tools this plugin offers."""
{%- if cookiecutter.permissions == "read" %}
    return [read_text]


def read_text(path: str, max_chars: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000) -> str:
    """Return the beginning of a text file.

    The host lets the plugin read only under the folders it was granted (``read`` in
    jaf-plugin.toml); any other path is refused with ``permission_denied``.

    Args:
        path: the file to read (``~`` is the user's home).
        max_chars: at most this many characters.
    """
    with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as file:
        return file.read(max_chars)
{%- elif cookiecutter.permissions == "net" %}
    return [fetch]


def fetch(url: str, max_bytes: Annotated[int, Field(ge=1, le=1_000_000)] = 65_536) -> str:
    """Fetch a web page with HTTP GET and return the beginning of its body as text.

    The host lets the plugin connect only to the hosts it was granted (``net`` in
    jaf-plugin.toml); any other host is refused with ``permission_denied``.

    Args:
        url: an http:// or https:// address.
        max_bytes: at most this many bytes of the body.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body: bytes = response.read(max_bytes)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, PermissionError):
            raise exc.reason from None  # the host's refusal: let it reach the agent as such
        raise
    return body.decode("utf-8", errors="replace")
{%- else %}
    return [hello]


def hello(
    name: Annotated[str, Field(min_length=1, max_length=100)], excited: bool = False
) -> str:
    """Greet someone by name.

    Args:
        name: who to greet.
        excited: end the greeting with an exclamation mark.
    """
    return f"Hello, {name}{'!' if excited else '.'}"
{%- endif %}
