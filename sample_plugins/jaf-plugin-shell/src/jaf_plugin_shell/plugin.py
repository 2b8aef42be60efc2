"""The shell plugin's hook implementations, configuration and ``run`` tool (entry point
``shell``).

No ``from __future__ import annotations`` here on purpose: the host reads the tool's
annotations at runtime, so they stay real objects rather than strings.
"""

from collections.abc import Callable
from typing import Annotated, Any

from jafhost import PluginContext, hookimpl, tool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jaf_plugin_shell import execute

DEFAULT_ALLOWED = ("echo", "date", "pwd", "ls", "git")
"""The default allow-list: the same programs the manifest asks the user to grant."""


class ShellConfig(BaseModel):
    """``[plugins.shell]`` in the host's ``config.toml``; every key is optional."""

    model_config = ConfigDict(extra="forbid")

    allowed: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED),
        description="programs the tool may start, by name; each also needs a run: grant",
    )
    max_output_bytes: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="the most kept of stdout, and of stderr, per run",
    )
    timeout_limit: float = Field(
        default=300.0,
        gt=0,
        description="the longest any run may take, in seconds; a larger timeout is lowered",
    )

    @field_validator("allowed")
    @classmethod
    def _program_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or "/" in name or any(c.isspace() for c in name):
                raise ValueError(f"{name!r} is not a program name (no paths, no spaces)")
        return value


@hookimpl
def jaf_config_schema() -> type[BaseModel]:
    return ShellConfig


@hookimpl
def jaf_tools() -> list[Callable[..., Any]]:
    return [run]


# The parameters are positional-only (the ``/``) because of a host bug: jafhost passes a
# tool's arguments as keywords to its own runner, whose keyword ``timeout`` collides with
# a tool parameter of that name. jafhost passes positional-only parameters by position;
# the schema and the names agents use are the same either way.
@tool(confirm=True)
def run(
    command: Annotated[list[str], Field(min_length=1, max_length=1000)],
    cwd: str | None = None,
    timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0,
    /,
    *,
    ctx: PluginContext,
) -> dict[str, Any]:
    """Run an allow-listed program, after the user confirms, and return its output.

    The command is a list of words, the program's name first (["git", "status"]); no
    shell is involved, so pipes, redirections, variables and globs are not available.
    Returns the exit code, stdout and stderr (each cut to a size limit, with flags
    saying so). The program is killed, with any children, when its time is up.

    Args:
        command: the program's name and its arguments, one word per item.
        cwd: the folder to run in (absolute or starting with ~); the home folder if
            not given.
        timeout: stop the program after this many seconds.
    """
    config: ShellConfig = ctx.config if ctx.config is not None else ShellConfig()
    return execute.run(
        command,
        allowed=config.allowed,
        cwd=cwd,
        timeout=min(timeout, config.timeout_limit),
        max_output=config.max_output_bytes,
    )
