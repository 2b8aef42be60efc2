"""state.json: round trips, the default policy, repair of corrupt files, locking, crashes.

Everything here uses real files under a temporary home and, for concurrency and
crashes, real processes: nothing of ``StateStore`` is mocked.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Site, run_cli
from jafhost.discovery.records import PluginInfo
from jafhost.errors import StateError
from jafhost.home.paths import HomeLayout
from jafhost.home.state import PluginRecord, State, StateStore

# -- helpers ---------------------------------------------------------------------------


def info(name: str, version: str = "1.0.0", permissions: tuple[str, ...] = ()) -> PluginInfo:
    return PluginInfo(
        name=name,
        distribution=f"jaf-plugin-{name}",
        version=version,
        entry_point=f"jp_{name}",
        permissions=permissions,
    )


def store_for(home: Path, **kwargs: float) -> StateStore:
    return StateStore(HomeLayout(home), **kwargs)


def kept_files(home: Path) -> list[Path]:
    return sorted(home.glob("state.json.corrupt-*"))


def python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    """A real child interpreter running ``script`` (the project is importable in it)."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", textwrap.dedent(script), *args],
        text=True,
        **kwargs,
    )


# -- round trip ----------------------------------------------------------------------


def test_missing_file_loads_as_empty_state_and_creates_nothing(home: Path) -> None:
    store = store_for(home)
    assert store.load() == State()
    assert not (home / "state.json").exists()
    assert store.warnings == []


def test_records_round_trip_through_the_file(home: Path) -> None:
    store = store_for(home)
    written = State(
        {
            "notes-search": PluginRecord(
                enabled=True,
                approved=["env:NOTES_KEY", "read:/home/u/notes"],
                grants=["env:NOTES_KEY", "read:/home/u/notes"],
                granted_version="1.2.3",
                isolation="process",
            ),
            "weather": PluginRecord(enabled=False, isolation="inprocess"),
            "a1_b2": PluginRecord(approved=["ffi"], grants=[], granted_version="0.1"),
        }
    )

    def replace_all(state: State) -> str:
        state.plugins.update(written.plugins)
        return "done"

    assert store.update(replace_all) == "done"  # update returns what the change returned

    fresh = store_for(home)
    assert fresh.load() == written
    assert fresh.warnings == []
    data = json.loads((home / "state.json").read_text())
    assert data["format"] == 1
    assert set(data["plugins"]) == {"notes-search", "weather", "a1_b2"}
    assert data["plugins"]["notes-search"]["isolation"] == "process"
    assert data["plugins"]["weather"]["enabled"] is False


def test_update_builds_on_what_is_on_disk(home: Path) -> None:
    first, second = store_for(home), store_for(home)
    first.update(lambda s: s.record("one").grants.append("env:A"))
    second.update(lambda s: s.record("two").grants.append("env:B"))  # reads one's write
    state = store_for(home).load()
    assert state.plugins["one"].grants == ["env:A"]
    assert state.plugins["two"].grants == ["env:B"]


def test_lists_are_written_sorted_and_without_duplicates(home: Path) -> None:
    store = store_for(home)

    def change(state: State) -> None:
        record = state.record("p")
        record.grants = ["net:b.example.com:*", "env:A", "env:A"]
        record.approved = ["run:git", "ffi", "run:git"]

    store.update(change)
    record = store.load().plugins["p"]
    assert record.grants == ["env:A", "net:b.example.com:*"]
    assert record.approved == ["ffi", "run:git"]


def test_a_failing_change_writes_nothing(home: Path) -> None:
    store = store_for(home)
    store.update(lambda s: s.record("p"))
    before = (home / "state.json").read_bytes()

    def boom(state: State) -> None:
        state.record("p").enabled = False
        raise RuntimeError("change failed")

    with pytest.raises(RuntimeError, match="change failed"):
        store.update(boom)
    assert (home / "state.json").read_bytes() == before
    assert store.load().plugins["p"].enabled is True
    assert not list(home.glob(".state.json-*"))


def test_record_creates_defaults_once() -> None:
    state = State()
    record = state.record("p")
    assert record == PluginRecord(enabled=True, approved=[], grants=[], granted_version=None)
    record.enabled = False
    assert state.record("p") is record


# -- the default policy -------------------------------------------------------------------


def test_no_permissions_and_no_record_is_enabled() -> None:
    assert State().status_of(info("quiet")) == ("enabled", None)


def test_permissions_and_no_record_need_approval_listing_them() -> None:
    status, reason = State().status_of(info("p", permissions=("env:KEY", "read:/data")))
    assert status == "needs-approval"
    assert reason is not None
    assert "env:KEY" in reason and "read:/data" in reason


def test_a_record_without_approval_still_needs_it() -> None:
    state = State({"p": PluginRecord(enabled=True)})
    status, reason = state.status_of(info("p", permissions=("net:example.com:*",)))
    assert status == "needs-approval"
    assert reason is not None and "net:example.com:*" in reason


def test_approved_permissions_make_it_enabled() -> None:
    perms = ("env:KEY", "read:/data")
    state = State(
        {
            "p": PluginRecord(
                approved=list(perms),
                grants=list(perms),
                granted_version="1.0.0",
                distribution="jaf-plugin-p",
            )
        }
    )
    assert state.status_of(info("p", permissions=perms)) == ("enabled", None)


def test_upgrade_requesting_more_lists_only_the_new_ones_and_the_approved_version() -> None:
    state = State(
        {
            "p": PluginRecord(
                approved=["read:/data"],
                grants=["read:/data"],
                granted_version="1.0.0",
                distribution="jaf-plugin-p",
            )
        }
    )
    status, reason = state.status_of(
        info(
            "p",
            version="2.0.0",
            permissions=("env:NEW_KEY", "net:api.example.com:443", "read:/data"),
        )
    )
    assert status == "needs-approval"
    assert reason is not None
    assert "env:NEW_KEY" in reason and "net:api.example.com:443" in reason
    assert "read:/data" not in reason
    assert "1.0.0" in reason  # the version the grants were approved at
    assert "2.0.0" in reason


def test_downgrade_requesting_less_stays_enabled() -> None:
    perms = ["env:NEW_KEY", "read:/data"]
    state = State(
        {
            "p": PluginRecord(
                approved=perms, grants=perms, granted_version="2.0.0", distribution="jaf-plugin-p"
            )
        }
    )
    assert state.status_of(info("p", version="1.0.0", permissions=("read:/data",))) == (
        "enabled",
        None,
    )
    assert state.status_of(info("p", version="0.1.0")) == ("enabled", None)


def test_disabled_record_is_disabled_whatever_it_requests() -> None:
    state = State({"p": PluginRecord(enabled=False, approved=["env:A"], grants=["env:A"])})
    status, reason = state.status_of(info("p", permissions=("env:A",)))
    assert status == "disabled" and reason
    assert state.status_of(info("p", permissions=("env:A", "env:B")))[0] == "disabled"
    assert state.status_of(info("p"))[0] == "disabled"
    assert state.status_of(info("other")) == ("enabled", None)  # records are per plugin


def test_policy_through_the_host_across_versions(site: Site, home: Path, make_host) -> None:  # type: ignore[no-untyped-def]
    site.plugin("quiet")
    site.plugin("notes", "1.0.0", manifest='[permissions]\nread = ["/srv/notes"]\n')
    host = make_host()
    statuses = {v.name: (v.status, v.reason) for v in host.plugins()}
    assert statuses["quiet"] == ("enabled", None)
    assert statuses["notes"][0] == "needs-approval"
    assert "read:/srv/notes" in (statuses["notes"][1] or "")

    asked: list[list[str]] = []

    def approve(plugin: PluginInfo, new: list[str]) -> bool:
        asked.append(new)
        return True

    host.enable(["notes"], approve=approve)
    assert asked == [["read:/srv/notes"]]
    assert make_host().plugin("notes").status == "enabled"
    assert store_for(home).load().plugins["notes"].granted_version == "1.0.0"

    # upgrade asking for more: back to needs-approval, only the new permission is shown
    site.remove("jaf-plugin-notes")
    site.plugin(
        "notes", "2.0.0", manifest='[permissions]\nread = ["/srv/notes"]\nenv = ["NOTES_TOKEN"]\n'
    )
    view = make_host().plugin("notes")
    assert view.status == "needs-approval"
    assert view.reason is not None
    assert "env:NOTES_TOKEN" in view.reason and "1.0.0" in view.reason
    assert "read:/srv/notes" not in view.reason
    asked.clear()
    make_host().enable(["notes"], approve=approve)
    assert asked == [["env:NOTES_TOKEN"]]
    assert make_host().plugin("notes").status == "enabled"

    # downgrade asking for less: stays enabled, nobody is asked
    site.remove("jaf-plugin-notes")
    site.plugin("notes", "1.5.0", manifest='[permissions]\nread = ["/srv/notes"]\n')
    assert make_host().plugin("notes").status == "enabled"

    make_host().disable(["notes"])
    assert make_host().plugin("notes").status == "disabled"


# -- corrupt files -------------------------------------------------------------------------

GOOD = State({"p": PluginRecord(approved=["env:A"], grants=["env:A"], granted_version="1")})
TORN = json.dumps(GOOD.to_json(), indent=2).encode()[:40]

CORRUPT = {
    "garbage-bytes": b"\x00\xff\xfe garbage \x80\x81 not json at all",
    "not-utf8-json": b'{"format": 1, "plugins": {"\xff": {}}}',
    "empty": b"",
    "truncated": TORN,
    "deeply-nested": b"[" * 200_000,
    "a-list": b"[1, 2, 3]",
    "no-format": b'{"plugins": {}}',
    "plugins-a-list": b'{"format": 1, "plugins": []}',
    "record-a-list": b'{"format": 1, "plugins": {"p": []}}',
    "enabled-a-string": b'{"format": 1, "plugins": {"p": {"enabled": "yes"}}}',
    "grants-a-string": b'{"format": 1, "plugins": {"p": {"grants": "env:A"}}}',
    "grants-of-numbers": b'{"format": 1, "plugins": {"p": {"approved": [1, 2]}}}',
    "version-a-number": b'{"format": 1, "plugins": {"p": {"granted_version": 5}}}',
    "bad-isolation": b'{"format": 1, "plugins": {"p": {"isolation": "docker"}}}',
}


def _assert_moved_aside(home: Path, store: StateStore, original: bytes) -> Path:
    kept = kept_files(home)
    assert len(kept) == 1, kept
    assert kept[0].read_bytes() == original  # the user's bytes are kept, untouched
    assert kept[0].parent == home
    assert len(store.warnings) == 1
    warning = store.warnings[0]
    assert str(kept[0]) in warning
    assert str(home / "state.json") in warning
    return kept[0]


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_file_is_moved_aside_on_load(home: Path, content: bytes) -> None:
    (home / "state.json").write_bytes(content)
    store = store_for(home)
    assert store.load() == State()
    assert not (home / "state.json").exists()
    kept = _assert_moved_aside(home, store, content)

    # the host goes on from defaults and can write again; the kept file stays
    store.update(lambda s: s.record("p").grants.append("env:B"))
    assert store_for(home).load().plugins["p"].grants == ["env:B"]
    assert kept.read_bytes() == content
    assert State().status_of(info("p", permissions=("env:A",)))[0] == "needs-approval"


@pytest.mark.parametrize("name", ["garbage-bytes", "enabled-a-string", "version-a-number"])
def test_corrupt_file_is_moved_aside_on_update(home: Path, name: str) -> None:
    content = CORRUPT[name]
    (home / "state.json").write_bytes(content)
    store = store_for(home)
    store.update(lambda s: s.record("fresh"))
    assert set(store_for(home).load().plugins) == {"fresh"}
    _assert_moved_aside(home, store, content)


def test_a_good_file_is_left_alone(home: Path) -> None:
    store = store_for(home)
    store.update(lambda s: s.plugins.update(GOOD.plugins))
    before = (home / "state.json").read_bytes()
    assert store_for(home).load() == GOOD
    assert (home / "state.json").read_bytes() == before
    assert kept_files(home) == []


def test_repeated_corruption_never_overwrites_a_kept_file(home: Path) -> None:
    store = store_for(home)
    contents = [b"first \xff", b"[2]", b'{"format": 1, "plugins": {"p": {"enabled": 0}}}']
    for content in contents:  # same process, same second: the names must still differ
        (home / "state.json").write_bytes(content)
        assert store.load() == State()
    kept = kept_files(home)
    assert len(kept) == 3
    assert sorted(k.read_bytes() for k in kept) == sorted(contents)
    assert len(store.warnings) == 3
    assert all(any(str(k) in w for w in store.warnings) for k in kept)


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_cli_list_survives_a_corrupt_state_file(site: Site, home: Path, as_json: bool) -> None:
    site.plugin("quiet")
    content = b"\x89PNG\r\n\x1a\n definitely not state"
    (home / "state.json").write_bytes(content)
    result = run_cli("list", *(["--json"] if as_json else []), site=site, home=home)
    assert result.returncode == 0, result.stderr
    kept = kept_files(home)
    assert len(kept) == 1
    assert kept[0].read_bytes() == content
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert str(kept[0]) in warnings[0]
    assert "Traceback" not in result.stderr
    if as_json:
        listed = {p["name"]: p for p in json.loads(result.stdout)}
        assert listed["quiet"]["status"] == "enabled"
    else:
        assert "quiet" in result.stdout


def _can_write(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def read_only_home(home: Path) -> Iterator[Path]:
    """``home``, made read-only in a way the user running the tests honours: its mode
    for a normal user; for root (whom modes do not stop) the immutable attribute, where
    the file system supports it. Skipped when neither binds this user."""
    home.chmod(0o555)
    undo: list[list[str]] = []
    chattr = shutil.which("chattr")
    if _can_write(home) and chattr is not None:
        made = subprocess.run([chattr, "+i", str(home)], capture_output=True)
        if made.returncode == 0:
            undo.append([chattr, "-i", str(home)])
    try:
        if _can_write(home):
            pytest.skip("this user can write to any folder here (root, no immutable attribute)")
        yield home
    finally:
        for command in undo:
            subprocess.run(command, check=True)
        home.chmod(0o755)


@pytest.mark.parametrize(
    "args",
    [("list", "--json"), ("list",), ("tools", "--json"), ("enable", "quiet")],
    ids=["fast-path", "table", "tools", "enable"],
)
def test_a_corrupt_state_file_that_cannot_be_moved_aside_is_one_error_line(
    site: Site, home: Path, args: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    site.plugin("quiet")
    (home / "state.json").write_bytes(b"{not json")
    request.getfixturevalue("read_only_home")
    result = run_cli(*args, site=site, home=home)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith(f"error: state file {home / 'state.json'} is unreadable (")
    assert "cannot be moved aside" in lines[0]
    assert f"make {home} writable" in lines[0]
    assert result.stdout == ""
    assert (home / "state.json").read_bytes() == b"{not json"  # kept as it was
    assert kept_files(home) == []


# -- concurrency ---------------------------------------------------------------------------

WORKER = """
import sys
from jafhost.host.host import Host

home, site, me, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host = Host(home, paths=[site])
mine = f"own{me}"
host.plugins()  # warm up: discovery, imports
print("ready", flush=True)
sys.stdin.readline()  # everyone starts together
for k in range(cycles):
    host.enable([mine])
    host.grant(mine, f"env:STEP_{k}")
    host.disable([mine])
    if k == cycles // 2:
        host.grant("shared", f"env:FROM_{me}")
if me % 2 == 0:
    host.enable([mine])
print("done", flush=True)
"""


def test_concurrent_processes_lose_no_update(site: Site, home: Path, make_host) -> None:  # type: ignore[no-untyped-def]
    workers, cycles = 16, 8
    site.plugin("shared")
    for me in range(workers):
        site.plugin(f"own{me}")
    make_host().plugins()  # fill the discovery cache once

    children = [
        python(
            WORKER,
            str(home),
            str(site.root),
            str(me),
            str(cycles),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for me in range(workers)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            assert out == "done\n"
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    raw = json.loads((home / "state.json").read_text())  # parses: never torn
    state = State.from_json(raw)
    for me in range(workers):
        record = state.plugins[f"own{me}"]
        assert record.enabled is (me % 2 == 0), me
        assert record.grants == sorted(f"env:STEP_{k}" for k in range(cycles)), me
    assert state.plugins["shared"].grants == sorted(f"env:FROM_{me}" for me in range(workers))
    assert kept_files(home) == []
    assert not list(home.glob(".state.json-*"))
    statuses = {v.name: v.status for v in make_host().plugins()}
    for me in range(workers):
        assert statuses[f"own{me}"] == ("enabled" if me % 2 == 0 else "disabled")


def test_concurrent_cli_grants_all_land(site: Site, home: Path, make_host) -> None:  # type: ignore[no-untyped-def]
    site.plugin("shared")
    make_host().plugins()
    results: list[subprocess.CompletedProcess[str]] = []
    lock = threading.Lock()

    def grant(me: int) -> None:
        result = run_cli("grant", "shared", f"env:CLI_{me}", site=site, home=home)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=grant, args=(me,)) for me in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    grants = store_for(home).load().plugins["shared"].grants
    assert grants == sorted(f"env:CLI_{me}" for me in range(6))


# -- lock timeout --------------------------------------------------------------------------

HOLDER = """
import sys
from filelock import FileLock

lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the parent closes our stdin (or kills us)
"""


def test_lock_timeout_raises_state_error(home: Path) -> None:
    store = store_for(home, lock_timeout=0.3)
    store.update(lambda s: s.record("p"))
    before = (home / "state.json").read_bytes()
    holder = python(
        HOLDER, str(store.layout.state_lock), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        with pytest.raises(StateError) as caught:
            store.update(lambda s: s.record("q"))
        waited = time.monotonic() - started
        assert 0.25 <= waited < 10
        assert str(home / "state.json") in str(caught.value)
        assert (home / "state.json").read_bytes() == before  # nothing written
    finally:
        holder.kill()
        holder.wait()
    store.update(lambda s: s.record("q"))  # the dead holder's lock is gone
    assert set(store.load().plugins) == {"p", "q"}


# -- crash mid-write -----------------------------------------------------------------------

BUILDER = """
from jafhost.home.state import PluginRecord, State


def expected(n: int) -> State:
    plugins = {
        f"plugin-{p:03d}": PluginRecord(
            enabled=(n + p) % 2 == 0,
            approved=sorted(f"read:/data/{n}/{p}/{g:03d}" for g in range(40)),
            grants=sorted(f"net:host{g}.example.com:{n % 65535 + 1}" for g in range(40)),
            granted_version=f"{n}.{p}",
            isolation="process" if (n + p) % 3 == 0 else None,
        )
        for p in range(100)
    }
    plugins["counter"] = PluginRecord(granted_version=str(n))
    return State(plugins)
"""

WRITER = (
    BUILDER
    + """
import sys
from pathlib import Path
from jafhost.home.paths import HomeLayout
from jafhost.home.state import StateStore

store = StateStore(HomeLayout(Path(sys.argv[1])))


def step(state: State) -> None:
    counter = state.plugins.get("counter")
    n = int(counter.granted_version) + 1 if counter else 1
    state.plugins.clear()
    state.plugins.update(expected(n).plugins)


print("ready", flush=True)
while True:
    store.update(step)
"""
)


def temp_files(home: Path) -> list[str]:
    return [entry.name for entry in os.scandir(home) if entry.name.startswith(".state.json-")]


def test_sigkill_mid_write_never_leaves_a_torn_file(home: Path) -> None:
    namespace: dict[str, object] = {}
    exec(BUILDER, namespace)
    expected = namespace["expected"]
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    state_file = home / "state.json"
    last = 0
    interrupted_writes = 0
    seen: set[str] = set()
    # first let one writer finish a write (however slow the disk), so the kills below
    # always have a previous state that must survive them
    child = python(WRITER, str(home), stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not state_file.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    seen = set(temp_files(home))
    for kill in range(40):
        child = python(WRITER, str(home), stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0.0, 0.04))
            if kill % 2:  # aim: kill the moment a new temp file shows up (mid-write)
                deadline = time.monotonic() + 0.5
                while time.monotonic() < deadline and not set(temp_files(home)) - seen:
                    pass
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL
        context = f"seed {seed}, kill {kill}"
        strays = set(temp_files(home))
        interrupted_writes += bool(strays - seen)  # this kill landed inside a write
        seen = strays
        if not state_file.exists():
            assert last == 0, context  # once written, it never disappears
            continue
        state = State.from_json(json.loads(state_file.read_bytes()))  # parses: not torn
        n = int(state.plugins["counter"].granted_version or "0")
        assert state == expected(n), context  # type: ignore[operator]
        assert n >= last, context  # a later state never goes back to an earlier one
        last = n

    assert last > 0, "the writer never wrote a state"
    # the aimed kills really hit the write window (else this test proves little)
    assert interrupted_writes >= 5, f"only {interrupted_writes} kills landed mid-write"
    # the temp files of killed writers do not disturb the next load or write
    store = store_for(home)
    assert store.load() == expected(last)  # type: ignore[operator]
    assert store.warnings == []
    assert kept_files(home) == []
    store.update(lambda s: s.record("after"))
    assert "after" in store_for(home).load().plugins


def test_a_snapshot_is_parsed_once_per_content_and_sees_every_change(home: Path) -> None:
    reader, writer = StateStore(HomeLayout(home)), StateStore(HomeLayout(home))
    assert reader.snapshot().plugins == {}
    writer.update(lambda s: setattr(s.record("a"), "enabled", False))
    first = reader.snapshot()
    assert first.plugins["a"].enabled is False
    assert reader.snapshot() is first  # same bytes: the same parse
    writer.update(lambda s: setattr(s.record("a"), "enabled", True))  # another process
    again = reader.snapshot()
    assert again is not first and again.plugins["a"].enabled is True
    assert reader.load() == again and reader.load() is not again  # ``load``: a private copy
    (home / "state.json").write_text("{not json")
    assert reader.snapshot().plugins == {}  # corrupt: moved aside, as ``load`` does
    assert reader.warnings and "kept it as" in reader.warnings[-1]


def test_one_plugins_record_reads_as_in_the_whole_state(tmp_path: Path) -> None:
    """``parse_one`` (the one-shot lane's read of the grants) gives each plugin the very
    record the whole parse gives, and none to a plugin the state does not name."""
    store = StateStore(HomeLayout(tmp_path))

    def change(state: State) -> None:
        for index in range(5):
            record = state.record(f"p{index}")
            record.grants = [f"read:/tmp/{index}", "garbage perm !!"]
            record.distribution = f"dist-{index}"
            record.isolation = ("inprocess", "process", None)[index % 3]
            record.enabled = index != 2

    store.update(change)
    raw = (tmp_path / "state.json").read_bytes()
    whole = store.load()
    for name in [*whole.plugins, "absent"]:
        one = StateStore.parse_one(raw, name)
        assert one.plugins.get(name) == whole.plugins.get(name)
    assert StateStore.parse_one(None, "p0").plugins == {}
