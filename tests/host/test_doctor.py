"""``jafhost doctor``: warnings for what deserves one (each printed once), findings in
``--json``, and an unusable ``config.toml`` named by ``doctor`` and ``list`` alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import HI_PLUGIN, Site, run_cli

CONFIGURED = (
    """
from pydantic import BaseModel

class Config(BaseModel):
    type_key: int = 0
    limit: int = 3

@hookimpl
def jaf_config_schema():
    return Config
"""
    + HI_PLUGIN
)


def _config(home: Path, isolation: str, extra: str = "") -> None:
    (home / "config.toml").write_text(f'[host]\nisolation = "{isolation}"\n{extra}')


HOST_WIDE_INPROCESS = (
    'warning: [host] isolation = "inprocess" in config.toml: every plugin runs in the '
    "host's own process under the audit guard only, not in a sandboxed worker; remove it, "
    "and trust single plugins with jafhost enable NAME --isolation inprocess instead"
)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_doctor_warns_about_plugins_waiting_for_approval_and_missing_grant_paths(
    site: Site, home: Path, tmp_path: Path
) -> None:
    site.plugin("waiting", manifest='[permissions]\nenv = ["WAITING_TOKEN"]\n')
    missing = tmp_path / "not-there"
    present = tmp_path / "there"
    present.mkdir()
    site.plugin("reader", manifest=f'[permissions]\nread = ["{missing}", "{present}"]\n')
    assert run_cli("enable", "reader", "--yes", site=site, home=home).returncode == 0

    ran = run_cli("doctor", site=site, home=home)
    assert ran.returncode == 0, ran.stderr  # waiting for approval is a state, not a problem
    assert _warnings(ran.stderr) == [
        "warning: plugin waiting is waiting for approval (requests permissions: "
        "env:WAITING_TOKEN): run jafhost enable waiting",
        f"warning: plugin reader: grant read:{missing} names a path that does not exist "
        f"({missing}); create it, or run jafhost revoke reader read:{missing}",
    ]

    report = json.loads(run_cli("doctor", "--json", site=site, home=home).stdout)
    assert report["ok"] is True
    assert [(f["kind"], f["plugin"], f["fix"]) for f in report["findings"]] == [
        ("needs-approval", "waiting", "jafhost enable waiting"),
        ("missing-path", "reader", f"jafhost revoke reader read:{missing}"),
    ]
    assert report["warnings"] == [f["message"] for f in report["findings"]]


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_doctor_names_unknown_keys_of_a_plugin_config(
    isolation: str, site: Site, home: Path
) -> None:
    site.plugin("cfg", code=CONFIGURED)
    _config(home, isolation, "[plugins.cfg]\ntypo_key = 1\nlimit = 2\n[plugins.cfg.other]\na = 1\n")
    ran = run_cli("doctor", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    assert _warnings(ran.stderr) == [
        "warning: plugin cfg: config [plugins.cfg] typo_key: not a setting of this plugin, "
        "ignored; did you mean type_key?",
        "warning: plugin cfg: config [plugins.cfg] other: not a setting of this plugin, ignored",
        *([HOST_WIDE_INPROCESS] if isolation == "inprocess" else []),
    ]
    report = json.loads(run_cli("doctor", "--json", site=site, home=home).stdout)
    kinds = {(f["kind"], f["plugin"]) for f in report["findings"]}
    assert kinds - {("isolation", None)} == {("unknown-config-key", "cfg")}

    # config set refuses the unknown key, naming it (the worker's schema was recorded)
    refused = run_cli("config", "set", "cfg", "typo_key", "1", site=site, home=home)
    assert refused.returncode == 2, refused.stderr
    assert "no config key 'typo_key' (did you mean type_key?" in refused.stderr
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: ")
    assert "typo_key = 1" in (home / "config.toml").read_text()  # unchanged


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[host\n", "invalid TOML"),
        ('[host]\nisolation = "sandboxed"\n', "[host] isolation: Input should be"),
        ("[host]\ncall_timeout = 1\ncal_timeout = 2\n", "[host] cal_timeout: Extra inputs"),
        ('[host]\nplugin_paths = "plugins"\n', "[host] plugin_paths: Input should be a valid list"),
    ],
)
def test_an_unusable_config_toml_is_named_by_doctor_and_list(
    text: str, problem: str, site: Site, home: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "imported"
    site.plugin("plain", code=f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n")
    config = home / "config.toml"
    config.write_text(text)

    doctor = run_cli("doctor", site=site, home=home)
    assert doctor.returncode == 1
    (warning,) = _warnings(doctor.stderr)
    assert warning.startswith(f"warning: {config}: ") and problem in warning
    assert "no plugin was started" in warning
    assert not marker.exists()  # no plugin code ran under settings it could not read
    report = json.loads(run_cli("doctor", "--json", site=site, home=home).stdout)
    assert report["ok"] is False
    assert [f["kind"] for f in report["findings"]] == ["invalid-config"]
    assert [p["name"] for p in report["plugins"]] == ["plain"]

    for args in (["list"], ["list", "--json"]):
        listed = run_cli(*args, site=site, home=home)
        assert listed.returncode == 0, listed.stderr
        (warning,) = _warnings(listed.stderr)
        assert warning.startswith(f"warning: {config}: ") and problem in warning
        assert listed.stderr.strip() == warning
        assert "plain" in listed.stdout
    assert not marker.exists()


@pytest.mark.parametrize("isolation", ["inprocess", "process"])
def test_a_failed_shut_down_is_reported_once(isolation: str, site: Site, home: Path) -> None:
    site.plugin("stubborn", code="""
        @hookimpl
        def jaf_deactivate():
            raise RuntimeError("cannot shut down")

        def hi() -> str:
            \"\"\"Say hi.\"\"\"
            return "hi"

        @hookimpl
        def jaf_tools():
            return [hi]
        """)  # fmt: skip
    _config(home, isolation)
    for args in (["doctor"], ["call", "stubborn.hi"]):
        ran = run_cli(*args, site=site, home=home)
        assert ran.returncode == 0, ran.stderr
        assert ran.stderr.count("jaf_deactivate failed: RuntimeError: cannot shut down") == 1, (
            ran.stderr
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[plugins.x]\na = 1\n",
        '[host]\nisolation = "process"\ncall_timeout = 2.5\nmemory_mb = 512\n',
        '[host]\nplugin_paths = ["a", "b"]\nopen_files = 64\nhook_timeout = 3\n',
        "[host]\nmemory_mb = 0\n",
        "[host]\nmemory_mb = true\n",
        "[host]\nisolation = 1\n",
        "[host]\nunknown = 1\n",
        "host = 1\n",
        "[host\n",
    ],
)
def test_the_quick_config_check_never_accepts_what_host_settings_refuses(text: str) -> None:
    import tomllib

    from pydantic import ValidationError

    from jafhost.home.config import HostSettings
    from jafhost.home.config_fast import HOST_KEYS, plainly_valid

    assert set(HOST_KEYS) <= set(HostSettings.model_fields)
    try:
        HostSettings.model_validate(tomllib.loads(text).get("host", {}))
    except (ValidationError, tomllib.TOMLDecodeError, AttributeError):
        assert not plainly_valid(text)  # the full check gives the message


def test_doctor_names_malformed_grants_and_records_of_plugins_not_installed(
    site: Site, home: Path
) -> None:
    site.plugin("files")
    plugins = {
        "files": {"grants": ["garbage perm !!"], "distribution": "jaf-plugin-files"},
        "ghost": {"approved": ["net:*"], "grants": ["net:*"]},
    }
    (home / "state.json").write_text(json.dumps({"format": 1, "plugins": plugins}))

    ran = run_cli("doctor", site=site, home=home)
    assert ran.returncode == 0, ran.stderr
    warnings = _warnings(ran.stderr)
    assert any("plugin files" in w and "'garbage perm !!'" in w for w in warnings), warnings
    assert any("plugin ghost is not installed" in w and "net:*" in w for w in warnings)

    report = json.loads(run_cli("doctor", "--json", site=site, home=home).stdout)
    found = {(f["kind"], f["plugin"]): f["message"] for f in report["findings"]}
    assert "garbage perm !!" in found["malformed-grant", "files"]
    assert "never applied" in found["malformed-grant", "files"]
    assert "net:*" in found["record-not-installed", "ghost"]
    [files] = [p for p in report["plugins"] if p["name"] == "files"]
    assert files["granted"] == []
