"""Process isolation: the host's client of a plugin's worker, and the worker itself."""
