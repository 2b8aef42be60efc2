"""Agent runs over the tool catalog, with model providers and adapters."""
