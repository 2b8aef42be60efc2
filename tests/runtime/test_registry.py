"""``PluginRegistry.place``: each plugin where the resolution puts it among those there.

The placement ranks a resolution once and halves the list while it is in that order
(a host's start places N plugins: a scan of the list for each was quadratic in N). What
it gives is checked against the rule itself, a scan, over random starts, stops and
changes of resolution."""

from __future__ import annotations

import random

import pytest

from jafhost.runtime.registry import PluginRegistry


def by_scan(placed: list[str], name: str, order: list[str]) -> None:
    """The rule, as written: before the first plugin there that ranks after ``name``."""
    if name in placed:
        return
    rank = {n: i for i, n in enumerate(order)}
    mine = rank.get(name, len(order))
    at = next((i for i, n in enumerate(placed) if rank.get(n, len(order)) > mine), len(placed))
    placed.insert(at, name)


def test_a_start_in_resolution_order_gives_that_order() -> None:
    registry = PluginRegistry()
    order = [f"p{i:04d}" for i in range(1000)]
    for name in order:
        registry.place(name, order)
    assert registry.order == order


def test_a_start_in_any_order_gives_the_resolution_order() -> None:
    registry = PluginRegistry()
    order = [f"p{i:03d}" for i in range(200)]
    shuffled = random.Random(7).sample(order, len(order))
    for name in shuffled:
        registry.place(name, order)
    assert registry.order == order


@pytest.mark.parametrize("seed", range(40))
def test_placement_follows_the_rule_through_stops_and_new_resolutions(seed: int) -> None:
    rnd = random.Random(seed)
    names = [f"p{i}" for i in range(30)]
    registry, expected = PluginRegistry(), []
    order = rnd.sample(names, 20)
    for _ in range(300):
        roll = rnd.random()
        if roll < 0.1:  # a new resolution: another order, some plugins in no order at all
            order = rnd.sample(names, rnd.randint(0, len(names)))
        elif roll < 0.3 and registry.order:  # a stop, as the runtime removes one
            gone = rnd.choice(registry.order)
            registry.order.remove(gone)
            expected.remove(gone)
        else:
            name = rnd.choice(names)
            registry.place(name, order)
            by_scan(expected, name, order)
        assert registry.order == expected
