"""The catalog in other vocabularies: OpenAI tool definitions and MCP tool descriptions.

Both name a tool ``<plugin>__<tool>``: OpenAI names must match
``^[a-zA-Z0-9_-]{1,64}$`` and MCP clients differ in what they accept, so the dot of
``plugin.tool`` is replaced by ``__``; plugin names never contain ``__``, so the
mapping is reversible and calls made with either form reach the same tool.
"""

from __future__ import annotations

from typing import Any

from jafhost.tools import Tool


def to_openai(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.export_name,
            "description": tool.description,
            "parameters": tool.input_schema,
        },
    }


def to_mcp(tool: Tool) -> dict[str, Any]:
    return {
        "name": tool.export_name,
        "title": tool.full_name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
    }
