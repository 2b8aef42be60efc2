"""Event patterns are matched without backtracking: a plugin cannot stall the host's events.

Patterns used to be compiled into regular expressions (``*`` became ``.*``), so a pattern
such as ``*a*a*a*a*a*a*a*a*a*a*a*a*b`` made one emit of a long name of ``a``s take minutes,
in both isolation modes. ``Glob`` keeps the meaning (``*`` matches any run of characters,
dots included) and is checked here against that regular-expression reference, then a real
malicious plugin subscribes with such a pattern and ``jafhost emit`` must still finish
and deliver to a normal subscriber.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.errors import EventError
from jafhost.runtime.events import (
    EVENT_NAME,
    EVENT_NAME_MAX,
    PATTERN,
    Glob,
    compile_pattern,
    subscriptions,
)


def reference(pattern: str, name: str) -> bool:
    """The old semantics: ``*`` is ``.*``, everything else literal, the whole name."""
    regex = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
    return re.match(regex, name) is not None


PATTERNS = [
    "order.created",
    "order.*",
    "*",
    "**",
    "*.*",
    "*.failed",
    "order*",
    "*order",
    "*order*",
    "o*r*d*e*r",
    "order.*.added",
    "order.**.added",
    "a*a",
    "a*a*a",
    "*a*a*",
    "ab*ba",
    "aba*aba",
    "a*b*a*b",
    "plugin.*d",
    "tool.*",
    "x:y-z_*",
    "*-*",
    "a",
    ".",
    ".*",
    "*.",
    "*a*a*a*a*a*a*a*a*a*a*a*a*b",
]

NAMES = [
    "order.created",
    "order.",
    "order",
    "order.item.added",
    "order.added",
    "order..added",
    "orders.created",
    "reorder",
    "o.r.d.e.r",
    "tool.failed",
    "event.failed",
    "failed",
    "plugin.activated",
    "plugin.deactivated",
    "plugin.failed",
    "a",
    "aa",
    "aaa",
    "aba",
    "ababa",
    "abaaba",
    "abba",
    "abab",
    "x:y-z_",
    "x:y-z_1",
    "_-",
    "a-b",
    "aaaaaaaaaaaab",
    "aaaaaaaaaaaa",
    "a" * 40,
    "a" * 40 + "b",
    "x" + ".a" * 30 + "b",
]


def test_table_matches_the_old_semantics() -> None:
    for pattern, name in itertools.product(PATTERNS, NAMES):
        assert PATTERN.fullmatch(pattern) and EVENT_NAME.fullmatch(name)
        if len(name) <= 30 or pattern.count("*") < 6:  # the reference itself backtracks
            expected = reference(pattern, name)
            assert compile_pattern(pattern).match(name) is expected, (pattern, name)


def test_every_small_pattern_matches_like_the_old_semantics() -> None:
    """Exhaustive over a small alphabet: every pattern up to 4 characters of ``ab.*``
    against every valid name up to 5 characters of ``ab.``."""
    patterns = ["".join(p) for n in range(1, 5) for p in itertools.product("ab.*", repeat=n)]
    names = [
        "".join(p)
        for n in range(1, 6)
        for p in itertools.product("ab.", repeat=n)
        if EVENT_NAME.fullmatch("".join(p))
    ]
    for pattern in patterns:
        glob = compile_pattern(pattern)
        for name in names:
            assert glob.match(name) is reference(pattern, name), (pattern, name)


@pytest.mark.parametrize(
    "pattern,name,expected",
    [
        ("*", "x", True),
        ("order.*", "order.", True),  # the star may match nothing
        ("order.*", "order", False),
        ("*.failed", "failed", False),
        ("a*a", "a", False),  # prefix and suffix may not overlap
        ("a*a", "aa", True),
        ("ab*bc", "abc", False),
        ("ab*bc", "abbc", True),
        ("order.created", "order.created", True),
        ("order.created", "order.createdx", False),  # exact names match whole names
        ("order.created", "xorder.created", False),
        ("order.*", "order.item.added", True),  # dots included
        ("a*b*c", "acb", False),  # pieces in order
        ("a*b*c", "abbbc", True),
    ],
)
def test_edge_cases(pattern: str, name: str, expected: bool) -> None:
    assert compile_pattern(pattern).match(name) is expected
    assert reference(pattern, name) is expected


def test_compiled_pieces() -> None:
    assert compile_pattern("order.created") == Glob(("order.created",))
    assert compile_pattern("order.created").exact
    assert compile_pattern("*a**b") == Glob(("", "a", "", "b"))
    assert not compile_pattern("*").exact


@pytest.mark.parametrize("pattern", ["a b", "", "order.(x)", "a+", "a?", "ä", 3, None])
def test_bad_patterns_are_refused(pattern: object) -> None:
    with pytest.raises(EventError, match="bad event pattern"):
        compile_pattern(pattern)  # type: ignore[arg-type]
    with pytest.raises(EventError, match="bad event pattern"):
        subscriptions("p", {pattern: print})


def test_patterns_longer_than_a_name_are_refused() -> None:
    assert compile_pattern("*" * EVENT_NAME_MAX).match("a" * EVENT_NAME_MAX)
    with pytest.raises(EventError, match=f"longer than {EVENT_NAME_MAX} characters"):
        compile_pattern("*" * (EVENT_NAME_MAX + 1))


def test_pathological_patterns_match_at_once() -> None:
    """Patterns that made the regular expressions backtrack, at the longest name: a hang
    here (not a slow run) is the failure; pytest's own run time shows the rest."""
    longest = "a" * EVENT_NAME_MAX
    for pattern in [
        "*a" * 12 + "*b",
        "*a" * 127 + "*",
        "*" + "a*" * 127 + "b",
        ("*" + "a" * 20) * 12,
        "a*" * 127 + "b",
    ]:
        glob = compile_pattern(pattern[:EVENT_NAME_MAX])
        for _ in range(100):
            glob.match(longest)
            glob.match(longest[:-1] + "b")
    assert compile_pattern("*a" * 12 + "*b").match("a" * 200 + "b")
    assert not compile_pattern("*a" * 12 + "*b").match(longest)


EVIL = """
EVIL = "*a*a*a*a*a*a*a*a*a*a*a*a*b"

def handler(event):
    pass

@hookimpl
def jaf_event_handlers():
    return {EVIL: handler}
"""

GOOD = """
def handler(event):
    pass

@hookimpl
def jaf_event_handlers():
    return {"order.*": handler}
"""


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_a_pathological_pattern_cannot_stall_emit(isolation: str, site: Site, home: Path) -> None:
    site.plugin("evil", code=EVIL)
    site.plugin("good", code=GOOD)
    for name in ("evil", "good"):
        enabled = run_cli("enable", name, "--isolation", isolation, "--yes", site=site, home=home)
        assert enabled.returncode == 0, enabled.stderr

    # 240 characters: the old regular expressions needed far more than minutes for this
    event = "order." + "a" * 234
    ran = run_cli("emit", event, site=site, home=home, timeout=60)  # a hang guard only
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["delivered"] == [{"plugin": "good", "pattern": "order.*"}]
    assert report["failed"] == [] and report["error"] is None

    # the pattern still means what it says
    ran = run_cli("emit", "order.aaaaaaaaaaaab", site=site, home=home, timeout=60)
    assert ran.returncode == 0, ran.stderr
    delivered = {d["plugin"] for d in json.loads(ran.stdout)["delivered"]}
    assert delivered == {"evil", "good"}
