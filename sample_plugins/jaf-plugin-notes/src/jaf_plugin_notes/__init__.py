"""jaf-plugin-notes: a jafhost plugin that keeps notes in SQLite under its data folder.

``plugin`` holds the hook implementations (the entry point); ``store`` holds the
storage, importable and testable without a host, and ``store.active_store()`` lets a
dependent plugin (notes-search) reach the database the running plugin opened.
"""
