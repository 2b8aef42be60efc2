"""The lane's one-shot worker gets exactly the ``WorkerSpec`` a host builds.

``one_shot_lane.lane_spec`` (from the files the lane read) and ``Runtime.worker_spec``
(a whole ``Host``) are compared field by field in the same home, with limits, a grant,
a granted variable and a plugin config table set, including the sandbox each would
apply and the environment each worker would get (all but the recorded tool schemas a
pool worker's start message carries: the one-shot worker builds no models).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from call_paths import ECHO

from conftest import Site, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")

COMPARE = """
import dataclasses, json, os
from jafhost.cli import oneshot
from jafhost.host.host import Host
from jafhost.home.plugin_tables import plugin_config_table
from jafhost.runtime.isolation.one_shot_lane import lane_spec
from jafhost.runtime.isolation.spawn import init_message, prepare

def shown(spec):
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    fields["grants"] = spec.grants()
    fields["info"] = spec.info.to_json()
    fields["ceiling"] = repr(spec.ceiling)
    launch = prepare(spec)
    fields["env"] = launch.env
    fields["init"] = init_message(spec, launch.sandbox)
    return json.loads(json.dumps(fields, default=str))

plan = oneshot.decide("iso", "echo", None)
host = Host()
entry = host.resolution().get("iso")
host.config.settings  # read as a start reads it
table = plugin_config_table(host.config.table, "iso", os.environ)
record = host.runtime.records.load("iso", host.runtime.record_key(entry.info))
known = {t.name: t.input_schema for t in record.tools}
full = host.runtime.worker_spec(entry.info, table, known)
assert full.known_schemas == {"echo": record.tools[0].input_schema}
# the recorded schemas tell a pool worker which models to build at first use; the
# one-shot worker builds none and is not told them: every other field is the host's
full = dataclasses.replace(full, known_schemas=None)
print(json.dumps([shown(lane_spec(plan)), shown(full)]))
"""


def test_the_lane_builds_the_spec_a_host_builds(site: Site, home: Path) -> None:
    site.plugin("iso", code=ECHO)
    (home / "config.toml").write_text(
        '[host]\nisolation = "process"\ncall_timeout = 7\nhook_timeout = 3\n'
        "memory_mb = 700\nopen_files = 99\nmax_result_mb = 5\nworkers_per_plugin = 3\n"
        '[plugins.iso]\ncolour = "blue"\n'
    )
    warm = run_cli("call", "iso.echo", "-a", "text=a", site=site, home=home)
    assert warm.returncode == 0, warm.stderr
    for permission in ("env:JAF_SPEC_TOKEN", f"read:{home.parent}"):
        granted = run_cli("grant", "iso", permission, site=site, home=home)
        assert granted.returncode == 0, granted.stderr
    again = run_cli("call", "iso.echo", "-a", "text=a", site=site, home=home)
    assert again.returncode == 0, again.stderr
    env = dict(os.environ, PYTHONPATH=str(site.root), JAFHOST_HOME=str(home))
    env["JAF_SPEC_TOKEN"] = "t"
    done = subprocess.run(
        [sys.executable, "-c", COMPARE], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lane, full = json.loads(done.stdout)
    assert lane == full
    assert lane["memory_mb"] == 700 and lane["max_result_mb"] == 5 and lane["workers"] == 3
    assert lane["config_table"] == {"colour": "blue"}
    assert "env:JAF_SPEC_TOKEN" in lane["grants"]
    assert lane["env"]["JAF_SPEC_TOKEN"] == "t"
