"""A bytecode cache another wheel puts in an approved plugin's ``__pycache__``, marked
"checked" (PEP 552) with the hash of the plugin's own source, never runs as the plugin.

The import system validates a checked hash-based ``.pyc`` by comparing the hash in its
header with ``importlib.util.source_hash`` of the source beside it; when they agree it
runs the code object in the file, whatever that code is. The plugin's source is public
(its wheel), so another project's wheel can carry
``pkg/__pycache__/plugin.<cache_tag>.pyc`` holding its own code under the hash of the
plugin's ``plugin.py``: no need to know the source's modification time. pip lists the
bytecode it compiles without a hash (so overwriting it is not a difference from
``RECORD``), and with ``--no-compile`` lists none (so the file is simply new).

The plugin's package is compiled from its sources, which were checked against
``RECORD`` (``runtime.source_only``): the cache is never read, and the plugin answers.

Real wheels installed by the real ``pip``, real ``jafhost`` processes, both isolation
modes, lane on and off. Ground truth: the secret only the approved plugin may read is
never printed, and the foreign code's marker is never written.
"""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from call_paths import TRACE
from pip_wheels import (
    VAULT,
    approve_and_warm,
    foreign_code,
    pip_install,
    rewrite,
    settle,
    vault_wheel,
    wheel,
)

from conftest import ISOLATION_MODES, Site, run_cli


def checked_pyc(source: str, code: str, filename: str) -> bytes:
    """A checked hash-based ``.pyc`` (PEP 552 flags 0b11) that names ``source``'s hash
    and holds ``code``."""
    header = importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little")
    body = marshal.dumps(compile(code, filename, "exec"))
    return header + importlib.util.source_hash(source.encode()) + body


@pytest.mark.parametrize("compiled", ["compiled", "no-compile"])
@pytest.mark.parametrize("lane", ["1", "0"])
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_foreign_checked_bytecode_cache_does_not_run_as_the_plugin(
    isolation: str, lane: str, compiled: str, tmp_path: Path, home: Path, secret: Path
) -> None:
    prefix = tmp_path / "prefix"
    cwd = tmp_path / "work"
    cwd.mkdir()
    module = Site(tmp_path / "unused").module_for("vault")
    source = textwrap.dedent(VAULT)
    vault = vault_wheel(tmp_path, module, secret, source)
    options = ("--no-compile",) if compiled == "no-compile" else ()
    site = Site(pip_install(prefix, vault, *options))
    marker = tmp_path / "foreign-ran"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**TRACE, "JAFHOST_CALL_LANE": lane}
        return run_cli(*args, site=site, home=home, env=env, cwd=cwd)

    approve_and_warm(cli, isolation, site.root, cwd)
    code = foreign_code(marker, secret)
    target = site.root / module / "plugin.py"
    cache = f"{module}/__pycache__/plugin.{sys.implementation.cache_tag}.pyc"
    foreign = wheel(
        tmp_path / "foreign", "jaf-colours", "1.0.0", {"jaf_colours/__init__.py": ""}, ""
    )
    rewrite(foreign, {cache: checked_pyc(source, code, str(target))})
    pip_install(prefix, foreign)
    settle(site.root, cwd)
    result = cli("call", "vault.peek")
    assert "TOP-SECRET" not in result.stdout + result.stderr
    assert not marker.exists()
    # the plugin's package is compiled from its checked sources: the cache is never read
    assert (result.returncode, result.stdout.strip()) == (0, '"vault"'), result.stderr
