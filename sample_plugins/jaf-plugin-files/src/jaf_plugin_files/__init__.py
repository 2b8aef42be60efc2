"""jaf-plugin-files: a jafhost plugin that lists, reads and searches text files.

``plugin`` holds the hook implementations and the tools (the entry point); ``browse``
holds the file-system work. The plugin never decides which folders it may touch: the
user's grants (``read:...``) do, and jafhost's permission guard enforces them while the
plugin's code runs, so a path outside them, or a symlink leading out, is denied.
"""
