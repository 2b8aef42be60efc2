"""The guard of an in-process plugin, set up: its grants compiled into a policy and the
audit hook armed, the identity its code runs under.

A module of its own so that ``jafhost call``'s one-shot lane takes the guard from the
same two functions as every in-process start (``Runtime``) without importing the whole
runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jafhost.discovery.folders import own_folders, plugin_folder

if TYPE_CHECKING:
    from jafhost.discovery.records import PluginInfo
    from jafhost.home.paths import HomeLayout
    from jafhost.home.state import State
    from jafhost.security.ceiling import Ceiling
    from jafhost.security.policy import Policy


def compile_policy(
    layout: HomeLayout, info: PluginInfo, grants: list[str], ceiling: Ceiling
) -> Policy:
    """``grants`` compiled for ``info`` under the operator's ``ceiling``: the one place
    an in-process guard policy is made (a start, the one-shot lane, an agent's narrowing)."""
    from jafhost.security.policy import Policy

    return Policy.compile(
        info.name,
        grants,
        layout.data_folder(info.name),
        layout.cache_folder(info.name),
        extra_read=own_folders(info),
        extra_list=plugin_folder(info),
        ceiling=ceiling,
        home=layout.root,
    )


def guard_identity(layout: HomeLayout, state: State, info: PluginInfo, ceiling: Ceiling) -> str:
    """Compile an in-process plugin's grants (read from ``state``) and arm the audit hook;
    the identity its code runs under. Every in-process start takes its guard from here
    (``Runtime``), or from ``armed_identity`` with the grants ``state`` gave (``jafhost
    call``'s one-shot lane keeps them in its summary), so nothing builds grants or a
    policy its own way."""
    return armed_identity(layout, info, state.grants_of(info), ceiling)


def armed_identity(
    layout: HomeLayout, info: PluginInfo, grants: list[str], ceiling: Ceiling
) -> str:
    """``grants`` (``State.grants_of(info)``) compiled and the audit hook armed: the
    identity the plugin's code runs under."""
    from jafhost.security import guard

    policy = compile_policy(layout, info, grants, ceiling)
    for dropped in policy.dropped:  # the lifecycle's logger
        import logging

        logging.getLogger("jafhost").warning("plugin %s: grant not applied: %s", info.name, dropped)
    guard.install()
    return guard.identity(policy)
