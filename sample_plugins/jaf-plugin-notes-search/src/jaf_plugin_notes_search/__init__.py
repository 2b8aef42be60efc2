"""jaf-plugin-notes-search: ranked search and "related notes" over the notes plugin.

``ranking`` is the pure scoring (no SQLite, no host), ``plugin`` the hook
implementations and tools that feed it the notes of the running notes plugin.
"""
