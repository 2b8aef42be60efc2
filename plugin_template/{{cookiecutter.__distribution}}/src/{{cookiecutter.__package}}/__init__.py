"""{{ cookiecutter.__distribution }}: {{ cookiecutter.description }}

``plugin`` holds the hook implementations jafhost calls (the ``jaf.plugins`` entry point
``{{ cookiecutter.plugin_name }}`` in pyproject.toml); ``jaf-plugin.toml`` beside it says what
the plugin is and may do, and jafhost reads it without importing any of this code.
"""
