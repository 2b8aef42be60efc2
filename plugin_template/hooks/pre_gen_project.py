"""Refuse answers that would render a project jafhost cannot load, before any file is written.

Cookiecutter renders this file with the answers and runs it; exit status 1 stops the
rendering. The rules are the host's (DESIGN.md, "Plugins"): a plugin name is lowercase
letters and digits in words joined by single ``-`` or ``_``; kinds come from a fixed list.
"""

import re
import sys

NAME = {{ cookiecutter.plugin_name | jsonify }}
KINDS = {{ cookiecutter.kinds | jsonify }}
ALLOWED_KINDS = ("tool", "agent", "integration", "capability", "event")
PLUGIN_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


def problems() -> list[str]:
    found = []
    if not PLUGIN_NAME.fullmatch(NAME):
        found.append(
            f"plugin name {NAME!r} is not allowed: use lowercase letters and digits in "
            "words joined by single '-' or '_' (e.g. notes-search)"
        )
    kinds = [k.strip() for k in KINDS.split(",")]
    unknown = [k for k in kinds if k not in ALLOWED_KINDS]
    if unknown or not kinds:
        found.append(
            f"kinds {KINDS!r}: each must be one of {', '.join(ALLOWED_KINDS)} (comma-separated)"
        )
    return found


if __name__ == "__main__":
    for problem in problems():
        sys.stderr.write(f"ERROR: {problem}\n")
    sys.exit(1 if problems() else 0)
