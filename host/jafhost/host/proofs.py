"""``jafhost doctor`` proves the workers' protections from inside a worker.

What a worker reports about its sandbox is the worker's word, and a worker started from a
changed jafhost could say anything. So ``doctor`` starts one probe worker (the built-in
probe plugin, ``jafhost.runtime.isolation.probe``, granted only ``ffi``), which tries
through libc, out of the audit guard's sight, to read a file the host created outside
its grants, to create a file in a folder outside its grants and to connect to a loopback
listener the host opened. The host then checks the ground truth itself: the file's
content never reached it, no file was created, the listener accepted nothing, and the
nonce it gave the probe is in the probe's data folder (so the attempts really ran).

A protection is ``proven`` only then. One not proven where this kernel offers what
should have stopped it (``expected``: the host's own probe of its kernel) is a problem.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import socket
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jafhost._version import __version__
from jafhost.discovery.records import PluginInfo

PROBE = PluginInfo(
    name="doctor-probe",
    distribution="jafhost",
    version=__version__,
    entry_point="jafhost.runtime.isolation.probe",
    summary="attempts what a worker's sandbox must refuse",
    source="builtin",
)


@dataclass(frozen=True)
class Proof:
    """One protection and what the host saw for itself."""

    protection: str
    attempt: str
    proven: bool
    expected: bool
    """Whether this kernel offers what should refuse the attempt (the host's probe)."""
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Proofs:
    status: str
    """``proven`` (all), ``not proven`` (some) or ``skipped`` (no probe worker ran)."""
    detail: str
    checks: tuple[Proof, ...] = ()

    @property
    def problem(self) -> str | None:
        """A protection this kernel should give that the probe got past, if any."""
        failed = [p for p in self.checks if p.expected and not p.proven]
        if not failed:
            return None
        first = failed[0]
        return f"worker protection not proven: {first.protection} ({first.evidence})"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "checks": [p.to_json() for p in self.checks],
        }


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock


def _accepted(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, OSError):
            return count
        conn.close()
        count += 1


def _expected() -> tuple[bool, bool]:
    """Whether this kernel should refuse (files, network) to a worker without grants."""
    from jafhost.security.sandbox import probe

    found = probe()
    return bool(found.landlock_abi), bool(found.netns or found.seccomp or found.landlock_abi >= 4)


async def prove(timeout: float = 30.0) -> Proofs:
    """Start one probe worker and check, on the host's side, what it could not do."""
    if not sys.platform.startswith("linux"):
        return Proofs("skipped", "not Linux: workers have no kernel restrictions to prove")
    with tempfile.TemporaryDirectory(prefix="jafhost-proof-") as folder:
        return await _prove(Path(folder), timeout)


async def _prove(root: Path, timeout: float) -> Proofs:
    import asyncio

    from jafhost.runtime.isolation.client import WorkerClient
    from jafhost.runtime.isolation.spec import WorkerSpec

    outside = root / "outside"
    outside.mkdir()
    secret_text = f"jafhost-proof-{secrets.token_hex(16)}"
    secret = outside / "secret.txt"
    secret.write_text(secret_text, encoding="utf-8")
    created = outside / "created.txt"
    nonce = secrets.token_hex(16)
    data = root / "worker" / "data"
    mark = data / "probe-ran.txt"
    listener = _listener()
    port = int(listener.getsockname()[1])
    spec = WorkerSpec(
        info=PROBE,
        data_dir=data,
        cache_dir=root / "worker" / "cache",
        config_table={},
        grants=lambda: ["ffi"],
        hook_timeout=min(timeout, 10.0),
    )
    client = WorkerClient(spec)
    try:
        async with asyncio.timeout(timeout):
            await client.boot()
            said = await client.call(
                "attempt",
                {
                    "mark": str(mark),
                    "nonce": nonce,
                    "read": str(secret),
                    "create": str(created),
                    "port": port,
                },
            )
    except Exception as exc:  # no worker, a worker that broke: nothing is proven
        from jafhost.errors import describe

        client.kill()
        listener.close()
        return Proofs("skipped", f"the probe worker did not run: {describe(exc, first_line=True)}")
    client.kill()
    accepted = _accepted(listener)
    listener.close()
    try:
        ran = mark.read_text(encoding="utf-8") == nonce
    except OSError:
        ran = False
    files, network = _expected()
    said_text = json.dumps(said)
    seen = _checks(ran, secret_text in said_text, created.exists(), accepted, files, network)
    claimed = said if isinstance(said, dict) else {}
    checks = tuple(
        dataclasses.replace(p, evidence=f"{p.evidence}; the worker said: {claimed.get(key, '?')}")
        for p, key in zip(seen, ("read", "create", "connect"), strict=True)
    )
    if not ran:
        why = "the probe's own mark is missing: its attempts did not run"
        return Proofs("not proven", why, checks)
    if all(p.proven for p in checks):
        why = "a worker could not read, create or connect outside its grants"
        return Proofs("proven", why, checks)
    return Proofs("not proven", "a worker got past some of its restrictions", checks)


def _checks(
    ran: bool, leaked: bool, created: bool, accepted: int, files: bool, network: bool
) -> tuple[Proof, Proof, Proof]:
    def verdict(held: bool, yes: str, no: str) -> tuple[bool, str]:
        if not ran:
            return False, "the probe did not run"
        return (True, yes) if held else (False, no)

    read = verdict(not leaked, "its content never reached the host",
                   "its content reached the host")  # fmt: skip
    create = verdict(not created, "no file was created", "the file was created")
    connect = verdict(accepted == 0, "the listener accepted no connection",
                      f"the listener accepted {accepted} connection(s)")  # fmt: skip
    rows = (
        ("files-read", "read a file the host created outside the grants", read, files),
        ("files-create", "create a file in a folder outside the grants", create, files),
        ("network", "connect to a loopback listener the host opened", connect, network),
    )
    made = [
        Proof(name, what, proven=seen[0], expected=expected, evidence=seen[1])
        for name, what, seen, expected in rows
    ]
    return made[0], made[1], made[2]
