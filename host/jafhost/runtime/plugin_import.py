"""Importing a plugin's entry point: the one step every start of its code begins with.

Kept out of ``jafhost.runtime.lifecycle`` (asyncio, pydantic) so that ``jafhost call``'s
one-shot lane imports a plugin exactly as a full start does, at the cost of the import.
"""

from __future__ import annotations

import importlib
from typing import Any

from jafhost.runtime.source_only import protect


def import_object(entry_point: str) -> Any:
    """Import ``module`` or ``module:attr.attr``; a class is instantiated with no arguments."""
    module_name, _, attrs = entry_point.replace(" ", "").partition(":")
    protect(module_name)  # its package's modules compiled from the checked sources
    obj: Any = importlib.import_module(module_name)
    for attr in filter(None, attrs.split(".")):
        obj = getattr(obj, attr)
    if isinstance(obj, type):
        obj = obj()
    return obj
