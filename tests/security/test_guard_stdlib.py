"""Honest-looking standard library calls that went around the in-process guard.

Each test installs a plugin with no grants (or the grants named), calls it through the real
CLI in a new process in each isolation mode that applies, and checks ground truth: the
secret never printed, no file created, modes, attributes and contents unchanged, no program
run. In-process the guard refuses; in process mode the worker's guard and the kernel do.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ISOLATION_MODES, Site

SCRIPT = str(Path(sys.executable).with_name("jafhost"))

TOOLS = '''
import os, socket, sqlite3
from jafhost import PluginContext

def attach(ctx: PluginContext, path: str) -> list:
    """ATTACH a database outside the grants to one of the plugin's own."""
    db = sqlite3.connect(ctx.data_dir / "own.db")
    db.execute(f"ATTACH DATABASE '{path}' AS other")
    return db.execute("select * from other.secrets").fetchall()

def vacuum_into(ctx: PluginContext, path: str) -> str:
    """Copy the plugin's own database to a file outside the grants."""
    db = sqlite3.connect(":memory:")
    db.execute("create table t(x)")
    db.execute(f"VACUUM INTO '{path}'")
    return "copied"

def history_read(path: str) -> list:
    """Load ``path`` as readline history and hand back its lines."""
    import readline
    readline.clear_history()
    readline.read_history_file(path)
    return [readline.get_history_item(i + 1) for i in range(readline.get_current_history_length())]

def history_write(path: str) -> str:
    """Write readline's history, with a line of the plugin's choosing, to ``path``."""
    import readline
    readline.clear_history()
    readline.add_history("echo planted")
    readline.write_history_file(path)
    return "written"

def dir_fd_read(ctx: PluginContext, path: str) -> str:
    """Open ``path`` relative to a folder descriptor, from a working folder where the
    same relative path stays inside the plugin's own folder."""
    depth = len(os.path.realpath(ctx.data_dir).strip("/").split("/"))
    fd = os.open(ctx.data_dir, os.O_RDONLY)
    deep = os.path.join(ctx.data_dir, *["d"] * depth)
    os.makedirs(deep, exist_ok=True)
    os.chdir(deep)
    relative = "../" * depth + path.lstrip("/")
    with open(os.open(relative, os.O_RDONLY, dir_fd=fd)) as f:
        return f.read()

def _relative_to_own(ctx: PluginContext, path: str) -> tuple[int, str]:
    """A descriptor of the data folder and a path that leads from it to ``path``, while
    from the working folder (chosen deep inside the data folder) it stays inside."""
    depth = len(os.path.realpath(ctx.data_dir).strip("/").split("/"))
    fd = os.open(ctx.data_dir, os.O_RDONLY)
    deep = os.path.join(ctx.data_dir, *["d"] * depth)
    os.makedirs(deep, exist_ok=True)
    os.chdir(deep)
    return fd, "../" * depth + path.lstrip("/")

def dir_fd_create(ctx: PluginContext, path: str) -> str:
    """Create ``path`` relative to a folder descriptor."""
    fd, relative = _relative_to_own(ctx, path)
    os.close(os.open(relative, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    return "created"

def dir_fd_remove(ctx: PluginContext, path: str) -> str:
    """Remove ``path`` relative to a folder descriptor."""
    fd, relative = _relative_to_own(ctx, path)
    os.remove(relative, dir_fd=fd)
    return "removed"

def make_fifo(path: str) -> str:
    """Create a FIFO."""
    os.mkfifo(path)
    return "made"

def make_node(path: str) -> str:
    """Create a file with mknod."""
    os.mknod(path, 0o600 | 0o100000)
    return "made"

def set_attribute(path: str) -> str:
    """Set an extended attribute."""
    os.setxattr(path, "user.jaf", b"changed")
    return "set"

def fchmod(path: str) -> str:
    """Change the mode of a file the plugin may only read, through its descriptor."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.chmod(fd, 0o4777)
    finally:
        os.close(fd)
    return "changed"

def hard_link(ctx: PluginContext, path: str) -> str:
    """Hard-link a file the plugin may only read into its data folder, append through it."""
    link = ctx.data_dir / "link.py"
    os.link(path, link)
    with open(link, "a") as f:
        f.write("APPENDED")
    return "linked"

def reverse_lookup(address: str) -> str:
    """Look up the name of an address (a query the name servers see)."""
    return socket.getnameinfo((address, 80), 0)[0]

def fork(ctx: PluginContext) -> str:
    """Fork; the child writes a marker."""
    pid = os.fork()
    if pid == 0:
        (ctx.data_dir / "forked").write_text("child")
        os._exit(0)
    os.waitpid(pid, 0)
    return "forked"

def fork_exec(ctx: PluginContext) -> str:
    """Start sh with the function subprocess uses underneath."""
    import _posixsubprocess, subprocess
    marker = str(ctx.data_dir / "ran")
    argv = [b"/bin/sh", b"-c", f"echo ran > {marker}".encode()]
    pid = _posixsubprocess.fork_exec(
        argv, [b"/bin/sh"], True, (), None, None, -1, -1, -1, -1, -1, -1,
        *os.pipe(), False, False, -1, None, None, None, -1, None, True)
    os.waitpid(pid, 0)
    return "ran"

def spawn(path: str) -> str:
    """Start a multiprocessing child with the spawn method; it writes ``path``."""
    import multiprocessing, pathlib
    process = multiprocessing.get_context("spawn").Process(
        target=pathlib.Path(path).write_text, args=("spawned",))
    process.start()
    process.join(30)
    return "spawned"

def typed(fd: int) -> str:
    """Push a command into the terminal on descriptor ``fd``."""
    import fcntl, termios
    for ch in "echo typed\\n":
        fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
    return "typed"

def env(name: str) -> dict:
    """Every way of reading the environment variable ``name``."""
    try:
        item = os.environ[name]
    except KeyError:
        item = None
    return {"item": item, "in": name in os.environ, "get": os.environ.get(name),
            "getenv": os.getenv(name), "copy": os.environ.copy().get(name),
            "dict": dict(os.environ).get(name), "keys": name in list(os.environ),
            "bytes": os.environb.get(name.encode(), b"").decode() or None,
            "path": "PATH" in os.environ}

@hookimpl
def jaf_tools():
    return [attach, vacuum_into, dir_fd_read, dir_fd_create, dir_fd_remove, make_fifo,
            make_node, set_attribute, fchmod, hard_link, reverse_lookup, fork, fork_exec,
            spawn, typed, env, history_read, history_write]
'''


def cli(
    *args: str,
    home: Path,
    site: Site,
    isolation: str,
    env: dict[str, str] | None = None,
    **popen: object,
) -> subprocess.CompletedProcess[str]:
    """The real console script in a new process, with ``[host] isolation`` set."""
    config = home / "config.toml"
    if not config.exists():
        config.write_text(f'[host]\nisolation = "{isolation}"\n')
    environment = {k: v for k, v in os.environ.items() if k not in ("JAFHOST_DEBUG", "PYTHONPATH")}
    environment.update(PYTHONPATH=str(site.root), JAFHOST_HOME=str(home), COLUMNS="200")
    environment.update(env or {})
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [SCRIPT, *args],
        cwd=home,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        **popen,  # type: ignore[call-overload]
    )


def call(
    tool: str, home: Path, site: Site, isolation: str, manifest: str = "", **args: object
) -> subprocess.CompletedProcess[str]:
    site.plugin("stdlib", code=TOOLS, manifest=manifest or None)
    if manifest:
        ran = cli("enable", "stdlib", "--yes", home=home, site=site, isolation=isolation)
        assert ran.returncode == 0, ran.stderr
    options = [item for key, value in args.items() for item in ("-a", f"{key}={value}")]
    return cli("call", f"stdlib.{tool}", *options, home=home, site=site, isolation=isolation)


def data_dir(home: Path) -> Path:
    return home / "plugins" / "stdlib" / "data"


def refused(ran: subprocess.CompletedProcess[str]) -> None:
    assert ran.returncode == 1, ran.stdout + ran.stderr


@pytest.fixture
def secret_db(tmp_path: Path) -> Path:
    import sqlite3

    folder = tmp_path / "private"
    folder.mkdir()
    path = folder / "secret.db"
    with sqlite3.connect(path) as db:
        db.execute("create table secrets(value)")
        db.execute("insert into secrets values ('SQLITE-SECRET')")
    db.close()
    return path


# -- SQLite -----------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_sqlite_attach_outside_the_grants_is_refused(
    isolation: str, home: Path, site: Site, secret_db: Path
) -> None:
    ran = call("attach", home, site, isolation, path=secret_db)
    refused(ran)
    assert "SQLITE-SECRET" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_sqlite_attach_inside_the_grants_works(
    isolation: str, home: Path, site: Site, secret_db: Path
) -> None:
    manifest = f'[permissions]\nwrite = ["{secret_db.parent}"]\n'
    ran = call("attach", home, site, isolation, manifest, path=secret_db)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == [["SQLITE-SECRET"]]


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_sqlite_attach_with_only_a_read_grant_is_refused(
    isolation: str, home: Path, site: Site, secret_db: Path
) -> None:
    manifest = f'[permissions]\nread = ["{secret_db.parent}"]\n'
    ran = call("attach", home, site, isolation, manifest, path=secret_db)
    refused(ran)
    assert "SQLITE-SECRET" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_sqlite_vacuum_into_outside_the_grants_creates_nothing(
    isolation: str, home: Path, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    refused(call("vacuum_into", home, site, isolation, path=target))
    assert not target.exists()


# -- paths relative to a folder descriptor ----------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_dir_fd_paths_are_resolved_from_their_folder(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    ran = call("dir_fd_read", home, site, isolation, path=secret)
    refused(ran)
    assert "TOP-SECRET-KEY" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_dir_fd_paths_cannot_create_or_remove_outside_the_grants(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    created = secret.parent / "created"
    refused(call("dir_fd_create", home, site, isolation, path=created))
    assert not created.exists()
    refused(call("dir_fd_remove", home, site, isolation, path=secret))
    assert secret.read_text() == "TOP-SECRET-KEY"


# -- special files, attributes, modes and links -----------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
@pytest.mark.parametrize("tool", ["make_fifo", "make_node"])
def test_no_fifo_or_node_outside_the_write_grants(
    tool: str, isolation: str, home: Path, site: Site, secret: Path
) -> None:
    target = secret.parent / "made"
    refused(call(tool, home, site, isolation, path=target))
    assert not os.path.lexists(target)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_no_extended_attribute_outside_the_write_grants(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    try:
        os.setxattr(secret, "user.jaf", b"original")
    except OSError as exc:
        pytest.skip(f"this file system keeps no user attributes: {exc}")
    refused(call("set_attribute", home, site, isolation, path=secret))
    assert os.getxattr(secret, "user.jaf") == b"original"


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_readable_file_keeps_its_mode_through_its_descriptor(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    mode = stat.S_IMODE(secret.stat().st_mode)
    manifest = f'[permissions]\nread = ["{secret.parent}"]\n'
    refused(call("fchmod", home, site, isolation, manifest, path=secret))
    assert stat.S_IMODE(secret.stat().st_mode) == mode


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_file_the_plugin_may_only_read_cannot_be_hard_linked_and_changed(
    isolation: str, home: Path, site: Site, tmp_path: Path
) -> None:
    """The known attack links a file of the Python installation (jafhost's own sandbox
    code) into the plugin's data folder and appends to it through the link."""
    folder = tmp_path / "installed"
    folder.mkdir()
    module = folder / "sandbox.py"
    module.write_text("APPLY = True\n")
    manifest = f'[permissions]\nread = ["{folder}"]\n'
    refused(call("hard_link", home, site, isolation, manifest, path=module))
    assert module.read_text() == "APPLY = True\n"
    assert module.stat().st_nlink == 1


# -- the terminal and the name servers --------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux ioctl numbers")
@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_plugin_cannot_type_into_the_users_terminal(
    isolation: str, home: Path, site: Site
) -> None:
    import fcntl
    import pty
    import termios

    legacy = Path("/proc/sys/dev/tty/legacy_tiocsti")
    if legacy.exists() and legacy.read_text().strip() == "0":
        pytest.skip("this kernel refuses TIOCSTI itself (dev.tty.legacy_tiocsti = 0)")
    master, slave = pty.openpty()
    try:
        site.plugin("stdlib", code=TOOLS)

        def controlling_terminal() -> None:  # the terminal the user typed the command in
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        ran = cli("call", "stdlib.typed", "-a", "fd=0", home=home, site=site,
                  isolation=isolation, stdin=slave, start_new_session=True,
                  preexec_fn=controlling_terminal)  # fmt: skip
        os.set_blocking(slave, False)
        try:
            typed = os.read(slave, 1024)
        except BlockingIOError:
            typed = b""
    finally:
        os.close(master)
        os.close(slave)
    assert b"typed" not in typed
    refused(ran)


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_reverse_lookup_needs_a_net_grant(isolation: str, home: Path, site: Site) -> None:
    ran = call("reverse_lookup", home, site, isolation, address="127.0.0.1")
    refused(ran)
    assert "localhost" not in ran.stdout


# -- processes --------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_fork_needs_a_run_grant_for_python(isolation: str, home: Path, site: Site) -> None:
    refused(call("fork", home, site, isolation))
    assert not (data_dir(home) / "forked").exists()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_the_function_under_subprocess_needs_a_run_grant(
    isolation: str, home: Path, site: Site
) -> None:
    refused(call("fork_exec", home, site, isolation))
    assert not (data_dir(home) / "ran").exists()


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_multiprocessing_child_needs_a_run_grant_for_python(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    target = secret.parent / "spawned"
    refused(call("spawn", home, site, isolation, path=target))
    assert not target.exists()


# -- the environment --------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_an_environment_variable_not_granted_is_absent(
    isolation: str, home: Path, site: Site
) -> None:
    site.plugin("stdlib", code=TOOLS)
    ran = cli("call", "stdlib.env", "-a", "name=JAF_TEST_TOKEN", home=home, site=site,
              isolation=isolation, env={"JAF_TEST_TOKEN": "ENV-SECRET"})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert "ENV-SECRET" not in ran.stdout + ran.stderr
    assert not seen["in"] and not seen["keys"] and seen["path"]
    assert {seen[k] for k in ("item", "get", "getenv", "copy", "dict", "bytes")} == {None}


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_a_granted_environment_variable_is_seen(isolation: str, home: Path, site: Site) -> None:
    site.plugin("stdlib", code=TOOLS, manifest='[permissions]\nenv = ["JAF_TEST_*"]\n')
    assert (
        cli("enable", "stdlib", "--yes", home=home, site=site, isolation=isolation).returncode == 0
    )
    ran = cli("call", "stdlib.env", "-a", "name=JAF_TEST_TOKEN", home=home, site=site,
              isolation=isolation, env={"JAF_TEST_TOKEN": "ENV-VALUE"})  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["in"] and seen["keys"]
    assert {seen[k] for k in ("item", "get", "getenv", "copy", "dict", "bytes")} == {"ENV-VALUE"}


# -- readline (C code that opens files with no audit event) ----------------------------------


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_readline_history_outside_the_grants_is_not_read(
    isolation: str, home: Path, site: Site, secret: Path
) -> None:
    ran = call("history_read", home, site, isolation, path=secret)
    refused(ran)
    assert "TOP-SECRET" not in ran.stdout + ran.stderr


@pytest.mark.parametrize("isolation", ISOLATION_MODES)
def test_readline_history_outside_the_grants_is_not_written(
    isolation: str, home: Path, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "outside" / "bashrc"
    target.parent.mkdir()
    ran = call("history_write", home, site, isolation, path=target)
    refused(ran)
    assert not target.exists()


def test_readline_history_in_the_plugins_own_folder_works(home: Path, site: Site) -> None:
    own = data_dir(home) / "history"
    ran = call("history_write", home, site, "inprocess", path=own)
    assert ran.returncode == 0, ran.stderr
    assert "echo planted" in own.read_text()
