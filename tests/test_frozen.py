"""``Frozen`` values behave as the frozen dataclasses they replace: compared, hashed,
shown and (``Ordered``) sorted by their fields; never assigned to; copied and pickled."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from jafhost.discovery.metadata import CoreMetadata
from jafhost.security.ceiling import Ceiling, DenyRule
from jafhost.security.permissions import Permission
from jafhost.security.policy import NetRule


@dataclasses.dataclass(frozen=True, order=True)
class _Permission:
    kind: str
    value: str = ""


VALUES = [
    Permission("read", "/x"),
    Permission("ffi"),
    DenyRule.parse("run:*", "policy.toml"),
    Ceiling((DenyRule.parse("env:AWS_*", "a.toml"),), "process", "b.toml"),
    NetRule("*.example.com", 443),
    CoreMetadata("demo", "1.0", "", "someone", ("x>=1",), ("extra",)),
]


def test_they_compare_hash_and_show_as_the_dataclass_did() -> None:
    pairs = [("read", "/b"), ("read", "/a"), ("ffi", ""), ("net", "h:1"), ("read", "/a")]
    ours = [Permission(*p) for p in pairs]
    theirs = [_Permission(*p) for p in pairs]
    assert [repr(p).replace("_P", "P", 1) for p in sorted(theirs)] == [
        repr(p) for p in sorted(ours)
    ]
    assert len(set(ours)) == len(set(theirs)) == 4
    assert (ours[1] == ours[4], ours[0] == ours[1]) == (True, False)
    assert Permission("read", "/a") != ("read", "/a")
    with pytest.raises(TypeError):
        _ = NetRule("a", 1) < NetRule("b", 1)  # ordered only where the dataclass was


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_they_are_frozen_and_copy(value: object) -> None:
    with pytest.raises(AttributeError):
        value.kind = "write"  # type: ignore[attr-defined]
    for other in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert other == value and hash(other) == hash(value) and other is not value
