"""jaf-plugin-memory: an agent's long-term memory for jafhost.

``store`` holds the storage (SQLite with FTS5 full-text search, or a scan when this
Python's SQLite has no FTS5) and knows nothing about jafhost; ``plugin`` holds the
plugin class (the entry point), its tools and the ``memory.store`` integration.
"""

from jaf_plugin_memory.store import Memory, MemoryNotFound, MemoryStore, StoreClosed

__all__ = ["Memory", "MemoryNotFound", "MemoryStore", "StoreClosed"]
