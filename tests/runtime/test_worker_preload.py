"""The one-shot worker imports the modules of its later steps only while ``init`` has not
arrived (``worker._preload``'s ``waiting``): a host ready first never waits for them.

Each case runs a fresh interpreter with a real pipe, as a worker reads its ``init``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jafhost.runtime.isolation.one_shot import PRELOAD, WHILE_WAITING

PROBE = """
import os, sys
from jafhost.runtime.isolation.worker import _preload
read, write = os.pipe()
if sys.argv[1] == "sent":
    os.write(write, b"init")
_preload((), tuple(sys.argv[2:]), read)
print(",".join(name for name in sys.argv[2:] if name in sys.modules))
"""


def _preloaded(state: str, modules: tuple[str, ...]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, state, *modules], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.parametrize("state", ["waiting", "sent"])
def test_the_later_steps_modules_are_imported_only_while_init_is_awaited(state: str) -> None:
    found = _preloaded(state, WHILE_WAITING)
    assert found == ([] if state == "sent" else list(WHILE_WAITING))


def test_what_waits_is_jafhost_s_own_and_not_already_preloaded() -> None:
    assert all(name.startswith("jafhost.") for name in WHILE_WAITING)
    assert not set(WHILE_WAITING) & set(PRELOAD)
