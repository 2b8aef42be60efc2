"""Running plugins: the plugin manager, lifecycle, tool calls, events, and process isolation."""
