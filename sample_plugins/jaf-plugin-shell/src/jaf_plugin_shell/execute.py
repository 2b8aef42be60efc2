"""Start one allow-listed program without a shell, collect its output, stop it on time.

* No shell: the command is a list of words given to the program as they are, so
  ``;``, ``|``, ``$(...)``, globs and redirections mean nothing special.
* Allow-list: the first word must be a program name (not a path) in the configured
  list. Independently, jafhost's guard refuses to start any program the user has not
  granted (``run:<name>``), whatever the list says.
* Output: stdout and stderr are read as they come; each keeps at most
  ``max_output`` bytes and the rest is read and dropped, so a chatty program neither
  fills memory nor blocks on a full pipe.
* Time: the program runs in a session (process group) of its own; when its time is
  up, the whole group is killed with SIGKILL, children included, and reaped.
* Environment: only the basics (``PATH``, ``HOME``, ``USER``, ``LANG``, ``LC_*``,
  ``TZ``, ``TERM``) reach the program, never the host's secrets; stdin is empty (a
  closed pipe), and git is told never to prompt.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from jafhost import ToolError

PLUGIN = "shell"
ENV_KEPT = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM")
READ_CHUNK = 65536


def fail(message: str, code: str = "tool_error") -> ToolError:
    return ToolError(message, plugin=PLUGIN, code=code)


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The program's whole environment: the basics from ours, nothing secret."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k in ENV_KEPT or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def locate(program: str, allowed: Sequence[str], path: str) -> str:
    """The executable of an allow-listed ``program``; a clear refusal otherwise."""
    listed = ", ".join(allowed) or "nothing"
    if not program or "/" in program or program != program.strip():
        raise fail(
            f"give the program by name, not as a path: {program!r} (allowed: {listed})",
            "invalid_arguments",
        )
    if program not in allowed:
        raise fail(
            f"program {program!r} is not allow-listed by the shell plugin (allowed: {listed}); "
            "the user can add it to [plugins.shell] allowed in config.toml",
            "permission_denied",
        )
    found = shutil.which(program, path=path)
    if found is None:
        raise fail(f"program {program!r} is allow-listed but not installed (not on PATH)")
    return found


def working_folder(cwd: str | None) -> str:
    """``cwd`` checked (absolute or ``~``, an existing folder); the home folder if None."""
    folder = os.path.expanduser(cwd.strip() if cwd is not None else "~")
    if not os.path.isabs(folder):
        raise fail(f"cwd {cwd!r} is not absolute: give a full path or one starting with ~")
    if not os.path.isdir(folder):
        raise fail(f"cwd {cwd!r} is not an existing folder")
    return os.path.normpath(folder)


class Capture:
    """One output stream: the first ``limit`` bytes, and how many there were in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.total += len(data)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)

    def text(self) -> str:
        return bytes(self.kept).decode("utf-8", errors="replace")


def _kill(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group, then reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
    child.wait()


def _collect(child: subprocess.Popen[bytes], out: Capture, err: Capture, deadline: float) -> bool:
    """Read both pipes until they close; False if the deadline came first."""
    assert child.stdout is not None and child.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ, out)
        selector.register(child.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in selector.select(left):
                data = os.read(key.fd, READ_CHUNK)
                if data:
                    key.data.add(data)
                else:
                    selector.unregister(key.fileobj)
    return True


def run(
    command: Sequence[str],
    *,
    allowed: Sequence[str],
    cwd: str | None,
    timeout: float,
    max_output: int,
) -> dict[str, Any]:
    """Run ``command`` (see the module docstring) and return its exit code and output."""
    env = child_environment()
    program = command[0]
    executable = locate(program, allowed, env["PATH"])
    folder = working_folder(cwd)
    out, err = Capture(max_output), Capture(max_output)
    started = time.monotonic()
    deadline = started + timeout
    child = subprocess.Popen(  # the guard checks run:<program> here
        list(command),
        executable=executable,
        cwd=folder,
        env=env,
        # an empty stdin: a pipe closed at once. subprocess.DEVNULL would open /dev/null
        # read-write, which jafhost's guard counts as a write outside the plugin's grants
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        shell=False,
        start_new_session=True,
    )
    try:
        assert child.stdin is not None
        child.stdin.close()
        finished = _collect(child, out, err, deadline)
        if finished:
            try:
                exit_code = child.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                finished = False
        if not finished:
            _kill(child)
            raise fail(
                f"{program} did not finish within {timeout:g} s; it was stopped "
                f"(process group {child.pid} killed)",
                "timeout",
            )
    except BaseException:
        if child.returncode is None:
            _kill(child)
        raise
    finally:
        for pipe in (child.stdout, child.stderr):
            if pipe is not None:
                pipe.close()
    return {
        "command": list(command),
        "cwd": folder,
        "exit_code": exit_code,
        "stdout": out.text(),
        "stderr": err.text(),
        "stdout_truncated": out.truncated,
        "stderr_truncated": err.truncated,
        "seconds": round(time.monotonic() - started, 3),
    }
