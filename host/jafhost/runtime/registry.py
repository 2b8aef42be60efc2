"""The plugins one host has loaded: each ``LoadedPlugin`` by name, the order the active
ones were activated in, and the rule for who may use which plugin's integration.

Shared by the parts of a host that start plugins, deliver events and serve
``ctx.integration``, so each reads the same records instead of asking the host.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jafhost.errors import PluginError

if TYPE_CHECKING:
    from jafhost.runtime.lifecycle import LoadedPlugin


class PluginRegistry:
    """``LoadedPlugin`` records by name (whatever their status) and the activation order."""

    def __init__(self) -> None:
        self.loaded: dict[str, LoadedPlugin] = {}
        self.order: list[str] = []
        """Active and idle (recorded, started at first use) plugins in dependency order
        (the event bus reads this list live)."""
        self._ranked: tuple[list[str], dict[str, int], bool] | None = None
        """``place``'s last resolution order, each name's rank in it, and whether
        ``order`` was in that order then (kept so by ``place``; a removal keeps it)."""

    def get(self, name: str) -> LoadedPlugin | None:
        return self.loaded.get(name)

    def __iter__(self) -> Iterator[LoadedPlugin]:
        return iter(list(self.loaded.values()))

    @property
    def active(self) -> list[str]:
        """Active plugins in activation order (a copy)."""
        return [name for name in self.order if self.is_active(name)]

    @property
    def serving(self) -> list[str]:
        """Active plugins and idle ones (recorded: started at their first use), in
        dependency order: whose tools, agents and handlers this host offers."""
        return [n for n in self.order if self.loaded[n].status in ("active", "idle")]

    def place(self, name: str, order: list[str]) -> None:
        """Put ``name`` in ``self.order`` where ``order`` (the resolution's) puts it
        among the plugins already there."""
        if name in self.order:
            return
        ranked = self._ranked
        if ranked is None or ranked[0] is not order:  # a new resolution: rank it once
            rank = {n: i for i, n in enumerate(order)}
            ranks = [rank.get(n, len(order)) for n in self.order]
            ranked = (order, rank, ranks == sorted(ranks))
            self._ranked = ranked
        rank, in_order = ranked[1], ranked[2]
        last = len(order)
        mine = rank.get(name, last)
        if in_order:  # the first plugin ranked after it, found by halving
            at = bisect.bisect_right(self.order, mine, key=lambda n: rank.get(n, last))
        else:
            found = (i for i, n in enumerate(self.order) if rank.get(n, last) > mine)
            at = next(found, len(self.order))
        self.order.insert(at, name)

    def is_active(self, name: str) -> bool:
        loaded = self.loaded.get(name)
        return loaded is not None and loaded.status == "active"

    def observes(self, name: str) -> bool:
        """Whether plugin ``name`` runs with ``observe`` granted (sees other plugins'
        calls and the host's events about them)."""
        loaded = self.loaded.get(name)
        return loaded is not None and loaded.observe

    def identity(self, name: str) -> str:
        """The identity plugin ``name``'s code runs under (its name if it is not loaded)."""
        loaded = self.loaded.get(name)
        return loaded.identity if loaded is not None else name

    def owns(self, identity: str) -> bool:
        """Whether ``identity`` is one of these plugins' (not another host's); a narrowed
        identity (an agent's call, ``security.narrowing``) counts as the one it stands for."""
        identity = getattr(identity, "base", identity)
        return any(loaded.identity is identity for loaded in self.loaded.values())

    def integration_owner(self, requester: LoadedPlugin, name: str) -> tuple[LoadedPlugin, str]:
        """Who serves integration ``name`` (``plugin.short``) for the loaded plugin
        ``requester``, and the short name: refused unless it is its own or one of a plugin
        it depends on that is active and offers it. ``requester`` is the record the
        host loaded, never a name plugin code could change."""
        plugin, dot, short = name.partition(".") if isinstance(name, str) else ("", "", "")
        who = requester.name
        if not dot or not short:
            raise PluginError(f"integration {name!r}: name it plugin.integration", plugin=who)
        if self.loaded.get(who) is not requester:
            raise PluginError(f"plugin {who} is no longer loaded by this host", plugin=who)
        if plugin != who and plugin not in requester.requires:
            raise PluginError(
                f"plugin {who} may not use integration {name}: it does not depend on "
                f"plugin {plugin} (add it to the distribution's requirements)",
                plugin=who,
            )
        owner = self.loaded.get(plugin)
        if owner is None or (owner.status != "active" and plugin != who):
            raise PluginError(
                f"integration {name} is not available: plugin {plugin} is not active",
                plugin=who,
            )
        if short not in owner.integrations:
            known = ", ".join(f"{plugin}.{n}" for n in owner.integrations) or "none"
            raise PluginError(
                f"unknown integration {name} (plugin {plugin} offers: {known})", plugin=who
            )
        return owner, short
