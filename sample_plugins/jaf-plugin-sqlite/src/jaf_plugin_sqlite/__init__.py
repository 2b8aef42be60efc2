"""jaf-plugin-sqlite: read-only SQL over one configured SQLite database, for jafhost.

``plugin`` holds the hook implementations (the entry point is its ``SqlitePlugin``
class); ``readonly`` holds the read-only connection and the query helpers, importable
and testable without a host.
"""
