"""The ``jafhost mcp`` command: serve the active tools as an MCP server over stdio.

Thin: builds the ``Host`` and hands it to :mod:`jafhost.mcp.server` (which imports the
``mcp`` SDK only when it serves) with the stream to write the protocol to: the real
stdout, which the CLI kept for itself when it started (:mod:`jafhost.cli.streams`; fd 1
and ``sys.stdout`` point at stderr). Nothing but the protocol is written to stdout.
"""

from __future__ import annotations

from jafhost.cli import streams
from jafhost.cli._common import Failed, app, build_host, warm_zygote, warn
from jafhost.errors import MCPUnavailable


@app.command("mcp")
def mcp_command() -> None:
    """Serve the tools of the active plugins over MCP on stdio."""
    from jafhost.mcp.server import serve

    host = build_host()
    warm_zygote(host)
    try:
        serve(host, stdout=streams.claimed())
    except MCPUnavailable as exc:
        raise Failed(str(exc)) from None
    finally:
        warn(host)
