"""The ``jafhost mcp`` command: serve the active tools as an MCP server over stdio.

Thin: builds the ``Host`` and hands it to :mod:`jafhost.mcp.server` (which imports the
``mcp`` SDK only when it serves). Nothing but the protocol is written to stdout.
"""

from __future__ import annotations

from jafhost.cli import Failed, _host, _warn, app


@app.command("mcp")
def mcp_command() -> None:
    """Serve the tools of the active plugins over MCP on stdio."""
    from jafhost.errors import MCPUnavailable
    from jafhost.mcp.server import serve

    host = _host()
    try:
        serve(host)
    except MCPUnavailable as exc:
        raise Failed(str(exc)) from None
    finally:
        _warn(host)
