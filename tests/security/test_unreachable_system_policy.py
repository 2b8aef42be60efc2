"""An operator policy that exists but that the user cannot reach is never "no policy".

A system policy in a folder the user may not search (``/etc/jafhost`` made by root
under a 077 or 027 umask, as hardening guides set it) cannot be looked at. Were that
taken for "no file" (``os.path.lexists`` answers False for any ``OSError``), the
administrator's file would be skipped by the lane (``decide``) and by the full path
(``load_ceiling``) alike, and every deny rule and the minimum isolation in it gone.
``policy_sources`` counts only a missing file as absent: the lane hands over, and the
full path fails naming the file, as for a ``JAFHOST_POLICY`` file it cannot read.

Ground truth: the file is there, with a deny rule; what the host answers as the user
who cannot search its folder must name it, or fail (closed) - not an empty ceiling.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from jafhost.home.operator_policy import load_ceiling, policy_sources

NOBODY = 65534


def _as_user_without_search(fn: Any) -> dict[str, Any]:
    """``fn()`` in a child that cannot search the policy's folder: as root, with the
    effective ids of ``nobody`` (the folder is root's, mode 0700); else as this user
    (the folder is then mode 0000). Its outcome: {"value": ...} or {"raised": name}."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 0
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setegid(NOBODY)
                os.seteuid(NOBODY)
            try:
                outcome: dict[str, Any] = {"value": fn()}
            except Exception as exc:
                outcome = {"raised": type(exc).__name__, "text": str(exc)}
            os.write(write_end, json.dumps(outcome).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(b"".join(chunks))


@pytest.fixture
def hidden_policy() -> Any:
    """``/tmp/<new>/etc-jafhost/policy.toml``, a valid policy denying a read, in a folder
    the child cannot search (every folder above it searchable)."""
    outer = Path(tempfile.mkdtemp(prefix="s24-policy-", dir="/tmp"))
    outer.chmod(0o755)
    folder = outer / "etc-jafhost"
    folder.mkdir()
    policy = folder / "policy.toml"
    policy.write_text('[policy]\ndeny = ["read:/srv/payroll"]\nisolation = "process"\n')
    policy.chmod(0o644)
    folder.chmod(0o700 if os.geteuid() == 0 else 0o000)
    yield str(policy)
    folder.chmod(0o700)
    shutil.rmtree(outer)


def test_the_lane_does_not_take_an_unreachable_system_policy_for_none(hidden_policy: str) -> None:
    # what ``decide`` asks on every call (only ``system`` differs: the fixed path there)
    system = Path(hidden_policy)
    outcome = _as_user_without_search(lambda: policy_sources({}, {}, system=system))
    assert outcome.get("raised") or outcome["value"] == [hidden_policy], (
        f"an existing operator policy was reported as absent: {outcome}"
    )


def test_the_full_path_does_not_drop_an_unreachable_system_policy(
    hidden_policy: str, tmp_path: Path
) -> None:
    def ceiling() -> list[Any]:
        config = str(tmp_path / "config.toml")
        found = load_ceiling({}, config, {}, system=Path(hidden_policy))
        return [
            [rule.text for rule in found.rules],
            found.isolation,
            found.cap(["read:/srv/payroll"]),
        ]

    outcome = _as_user_without_search(ceiling)
    assert "raised" in outcome, (
        "the operator's policy was silently dropped: rules, minimum isolation and what "
        f"the ceiling lets through are {outcome['value']}"
    )
