"""``scope``: plain copies of exact built-in types, and exceptions rebuilt as the
host's own with their text read in the plugin's scope."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jafhost.errors import HookTimeout, PermissionDenied, ToolError
from jafhost.runtime.scope import host_error, plain, plugin_scope, run_in_scope
from jafhost.security.guard import CURRENT_PLUGIN


class Name(str):
    """A str subclass: its methods are code of whoever made it."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("plugin code ran")

    __hash__ = str.__hash__


def _types(value: Any) -> set[type]:
    found = {type(value)}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _types(key) | _types(item)
    elif isinstance(value, list):
        for item in value:
            found |= _types(item)
    return found


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, True, None, "x"]},
        {Name("key"): Name("value")},
        [Name("x")] * 300,  # past the direct copy's budget: the JSON round trip
        ("tuple", 1),
    ],
)
def test_plain_keeps_only_exact_built_in_types(value: Any) -> None:
    copy = plain(value)
    assert _types(copy) <= {dict, list, str, int, float, bool, type(None)}
    assert json.loads(json.dumps(copy)) == copy


def test_plain_copies_rather_than_shares() -> None:
    inner = [1]
    value = {"a": inner}
    copy = plain(value)
    inner.append(2)
    assert copy == {"a": [1]}


def test_an_unreadable_exception_gets_a_text_naming_the_plugin() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    with plugin_scope("sly"):
        error = host_error(Broken())
    assert str(error) == "plugin sly raised an exception whose text cannot be shown"
    assert not isinstance(error, Broken)


def test_denials_codes_and_timeouts_keep_their_kind() -> None:
    wrapped = OSError("wrapped")
    wrapped.__cause__ = PermissionDenied("no", plugin="sly", permission="read:/x")
    denial = host_error(wrapped)
    assert isinstance(denial, PermissionDenied) and denial.permission == "read:/x"
    coded = host_error(ToolError("gone", code="unavailable"))
    assert isinstance(coded, ToolError) and coded.code == "unavailable"
    assert isinstance(host_error(HookTimeout("late")), HookTimeout)
    other = host_error(ValueError(Name("bad")))
    assert type(other).__name__ == "ValueError" and not isinstance(other, ValueError)


def test_run_in_scope_sets_the_identity_and_rebuilds_errors() -> None:
    assert run_in_scope("sly", CURRENT_PLUGIN.get) == "sly"
    assert CURRENT_PLUGIN.get() is None

    def fail() -> None:
        raise KeyError(Name("k"))

    with pytest.raises(Exception) as caught:
        run_in_scope("sly", fail)
    assert type(caught.value).__name__ == "KeyError" and not isinstance(caught.value, KeyError)
