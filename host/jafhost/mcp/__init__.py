"""The MCP server over the host's tool catalog."""
