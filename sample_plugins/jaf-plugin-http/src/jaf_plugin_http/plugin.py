"""The http plugin's hook implementations, configuration and ``fetch`` tool (entry point
``http``).

No ``from __future__ import annotations`` here on purpose: the host reads the tool's
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal

from jafhost import PluginContext, hookimpl
from pydantic import BaseModel, ConfigDict, Field

from jaf_plugin_http import client


class HttpConfig(BaseModel):
    """``[plugins.http]`` in the host's ``config.toml``; every key is optional."""

    model_config = ConfigDict(extra="forbid")

    user_agent: str = Field(
        default="jaf-plugin-http/1.0 (jafhost)",
        min_length=1,
        description="the User-Agent header sent with every request",
    )
    max_bytes_limit: int = Field(
        default=5_000_000,
        ge=1,
        description="the most any fetch reads; a larger max_bytes in a call is lowered to it",
    )
    timeout_limit: float = Field(
        default=60.0,
        gt=0,
        description="the longest any fetch may take, in seconds; a larger timeout is lowered",
    )
    max_redirects: int = Field(
        default=5, ge=0, le=20, description="redirects followed per fetch; 0 follows none"
    )


@hookimpl
def jaf_config_schema() -> type[BaseModel]:
    return HttpConfig


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    return [fetch]


# The parameters are positional-only (the ``/``) because of a host bug: jafhost passes a
# tool's arguments as keywords to its own runner, whose keyword ``timeout`` collides with
# a tool parameter of that name. jafhost passes positional-only parameters by position;
# the schema and the names agents use are the same either way.
def fetch(
    url: Annotated[str, Field(min_length=1)],
    method: Literal["GET", "HEAD"] = "GET",
    max_bytes: Annotated[int, Field(ge=1, le=100_000_000)] = 1_000_000,
    timeout: Annotated[float, Field(gt=0, le=600)] = 10.0,
    /,
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Fetch an http:// or https:// URL and return its status, main headers and text.

    At most max_bytes of the body are read ("truncated" is then true and the text ends
    with a note saying so); binary bodies come back with "binary" true and no text.
    Redirects are followed. Error statuses (404, 500) are results, not errors. Only
    hosts and ports the user granted can be reached.

    Args:
        url: the address to fetch, http:// or https://.
        method: GET for the content, HEAD for the status and headers only.
        max_bytes: read at most this many bytes of the body.
        timeout: give up after this many seconds, for the whole fetch.
    """
    config: HttpConfig = ctx.config if ctx.config is not None else HttpConfig()
    limits = client.Limits(
        max_bytes=min(max_bytes, config.max_bytes_limit),
        timeout=min(timeout, config.timeout_limit),
        user_agent=config.user_agent,
        max_redirects=config.max_redirects,
    )
    return client.fetch(url, method, limits)
