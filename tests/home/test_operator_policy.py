"""Reading the operator's policy: the system file (through the loader, given its path),
``JAFHOST_POLICY`` and ``config.toml``'s ``[policy]`` add up; malformed input names the
file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jafhost.errors import StateError
from jafhost.home.operator_policy import SYSTEM_POLICY, load_ceiling, read_policy_file


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_system_file_is_a_fixed_path() -> None:
    assert SYSTEM_POLICY == "/etc/jafhost/policy.toml"


def test_deny_lists_add_up_and_the_strictest_isolation_wins(tmp_path: Path) -> None:
    system = _write(tmp_path / "system.toml", '[policy]\ndeny = ["ffi"]\nisolation = "process"\n')
    admin = _write(
        tmp_path / "admin.toml", '[policy]\ndeny = ["run:*", "net:*.corp.example.com"]\n'
    )
    config = {"policy": {"deny": ["read:~/.ssh"], "isolation": "inprocess"}}
    ceiling = load_ceiling(
        config, tmp_path / "config.toml", {"JAFHOST_POLICY": str(admin)}, system=system
    )
    assert [(r.text, r.source) for r in ceiling.rules] == [
        ("ffi", str(system)),
        ("run:*", str(admin)),
        ("net:*.corp.example.com", str(admin)),
        ("read:~/.ssh", str(tmp_path / "config.toml")),
    ]
    assert (ceiling.isolation, ceiling.isolation_source) == ("process", str(system))


def test_no_file_no_table_no_ceiling(tmp_path: Path) -> None:
    ceiling = load_ceiling({}, tmp_path / "config.toml", {}, system=tmp_path / "absent.toml")
    assert not ceiling
    assert ceiling.cap(["read:/x", "ffi"]) == ["read:/x", "ffi"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[policy]\ndenny = ["ffi"]\n', "[policy] denny: Extra inputs are not permitted"),
        ('[policy]\ndeny = "ffi"\n', "[policy] deny: "),
        ('[policy]\ndeny = ["read:notes"]\n', "[policy] deny[0] 'read:notes': path"),
        ('[policy]\ndeny = ["teleport:*"]\n', "[policy] deny[0] 'teleport:*'"),
        ('[policy]\nisolation = "vm"\n', "[policy] isolation: "),
        ('[host]\nisolation = "process"\n', "host: Extra inputs are not permitted"),
        ("[policy\n", "invalid TOML"),
    ],
)
def test_a_malformed_file_names_itself_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "policy.toml", text)
    with pytest.raises(StateError) as caught:
        load_ceiling({}, tmp_path / "config.toml", {}, system=path)
    assert str(caught.value).startswith(f"{path}: {message}"), caught.value


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(StateError, match="policy file not found"):
        load_ceiling({}, tmp_path / "c.toml", {"JAFHOST_POLICY": str(missing)}, system=missing)
    with pytest.raises(StateError, match="policy file not found"):
        read_policy_file(missing)


def test_config_toml_policy_errors_name_config_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    with pytest.raises(StateError, match=r"config.toml: \[policy\] deny.0: "):
        load_ceiling({"policy": {"deny": [1]}}, config, {}, system=tmp_path / "absent")


def test_grants_inside_and_broader_than_a_rule(tmp_path: Path) -> None:
    """Paths by whole components, hosts by the grants' patterns."""
    admin = _write(
        tmp_path / "admin.toml",
        f'[policy]\ndeny = ["read:{tmp_path}/a", "net:*.corp.example.com", "env:AWS_*"]\n',
    )
    environ = {"JAFHOST_POLICY": str(admin)}
    ceiling = load_ceiling({}, tmp_path / "c.toml", environ, system=tmp_path / "absent")
    assert ceiling.inside(f"read:{tmp_path}/a/b") is not None
    assert ceiling.inside(f"write:{tmp_path}/a") is not None  # writing opens for reading
    assert ceiling.inside(f"read:{tmp_path}/ab") is None
    assert [r.text for r in ceiling.limiting(f"read:{tmp_path}")] == [f"read:{tmp_path}/a"]
    assert ceiling.inside("net:api.corp.example.com:443") is not None
    assert ceiling.inside("net:corp.example.com:443") is None  # the apex is not a subdomain
    assert ceiling.limiting("net:*") != []
    assert ceiling.inside("env:AWS_SECRET") is not None
    assert ceiling.limiting("env:AWS*") != []
    assert ceiling.inside("read:$PLUGIN_DATA") is None


def test_without_any_policy_no_pydantic_is_imported(tmp_path: Path) -> None:
    """The ceiling is read before every start; where no policy exists that costs no
    pydantic import (``jafhost call``'s fast path)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from jafhost.home.operator_policy import load_ceiling\n"
        f"ceiling = load_ceiling({{}}, Path({str(tmp_path / 'config.toml')!r}), {{}},"
        f" system=Path({str(tmp_path / 'absent.toml')!r}))\n"
        "assert not ceiling and 'pydantic' not in sys.modules, sorted(sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
