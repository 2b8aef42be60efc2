"""Mistakes with hook names, found in a plugin object before pluggy registers it.

pluggy registers what carries the ``@hookimpl`` marker and ignores everything else, so
two common mistakes would otherwise pass in silence: a function named after a hook
without the marker (the plugin starts and offers nothing), and a misspelled hook name
(``jaf_tool``). Both make the plugin broken with a message that says what to change.
The check reads attributes statically (properties are not evaluated) and applies to
modules, class-based plugins (``jafhost.Plugin`` subclasses included) and plain objects,
in the host process and in a worker alike.
"""

from __future__ import annotations

import inspect
import types
from typing import TYPE_CHECKING

from jafhost import hookspecs

if TYPE_CHECKING:
    import pluggy

PREFIX = f"{hookspecs.PROJECT_NAME}_"
_SPEC_MARK = f"{hookspecs.PROJECT_NAME}_spec"


def hook_names() -> list[str]:
    """The names of the hooks in ``hookspecs``, sorted."""
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if name.startswith(PREFIX) and hasattr(value, _SPEC_MARK)
    )


def _function(obj: object, name: str) -> object | None:
    """The function behind attribute ``name`` (as pluggy would see it), or None."""
    try:
        value = inspect.getattr_static(obj, name)
    except AttributeError:
        return None
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, types.MethodType):
        value = value.__func__
    return value if inspect.isfunction(value) else None


def suggestion(name: str, known: list[str]) -> str:
    """``"; did you mean jaf_tools?"`` for the closest hook name, else the list of hooks."""
    candidates = [name, PREFIX + name] if not name.startswith(PREFIX) else [name]
    import difflib  # only for a suggestion, when a name is wrong

    for candidate in candidates:
        close = difflib.get_close_matches(candidate, known, n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]}?"
    return f" (the hooks are {', '.join(known)})"


def mistakes(pm: pluggy.PluginManager, obj: object) -> list[str]:
    """What is wrong with the hook names of plugin object ``obj`` (empty if nothing)."""
    known = hook_names()
    found: list[str] = []
    kind = "function" if inspect.ismodule(obj) else "method"
    for name in sorted(dir(obj)):
        function = _function(obj, name)
        if function is None or hasattr(function, _SPEC_MARK):
            continue
        opts = pm.parse_hookimpl_opts(obj, name)
        marked = opts is not None
        hook = (opts.get("specname") if opts else None) or name  # @hookimpl(specname=...)
        if marked and hook != name:
            if hook not in known:
                found.append(
                    f"@hookimpl {kind} {name} names hook {hook}, which is not a jafhost hook"
                    f"{suggestion(hook, known)}"
                )
            continue
        if name in known:
            if not marked:
                found.append(
                    f"{kind} {name} is not marked @hookimpl (from jafhost import hookimpl)"
                )
        elif marked or name.startswith(PREFIX):
            what = f"@hookimpl {kind}" if marked else kind
            found.append(f"{what} {name} is not a jafhost hook{suggestion(name, known)}")
    return found
