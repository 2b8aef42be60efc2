#!/usr/bin/env python3
"""Whole-process start-up of the one-shot commands, against bare scripts, at N plugins.

For N installed plugins of one tool each (real ``*.dist-info`` and package folders on
``PYTHONPATH``, generated with ``bench/discovery.py``'s ``make_site``; each package's
code replaced by a plugin offering ``echo(text) -> text``), measured in one run, every
command once per round in a shuffled order:

- ``jafhost call P.echo -a text=hi`` of one plugin P in the middle of the N:
  - in process (``[host] isolation = "inprocess"`` in the home), warm (records and
    caches written by untimed runs first) and cold (everything in the home but
    ``config.toml`` and ``state.json`` deleted before each run);
  - process-isolated: P enabled with ``--isolation process`` in a home whose default is
    in process (so the other N-1, should they start, start in process: a thousand
    sandboxed workers would measure the machine, not the command), warm and cold;
- (a) a bare script that imports only P's module and calls its function;
- (a+) the same, its argument validated by a pydantic model first (the cost of
  validating at all: what a call that needs pydantic cannot go below);
- (b) a bare pluggy script: ``load_setuptools_entrypoints`` over all N, then P's tool;
- the host's own share: the in-process warm call in a home where the N-1 other plugins
  are disabled (only the called one starts, whatever the host's activation does);
- a long-lived ``Host`` in process: ``async with Host()`` to the first call's result
  (whole process; the script also reports its own time from ``Host()`` to the result);
- ``jafhost mcp`` (in process home) at N=1 and N=100: from spawning the process to the
  answers to ``initialize`` and ``tools/list`` (JSON-RPC lines over stdio).

Every run's output is checked (the tool's answer; the MCP tool list), so a command that
stopped working cannot look fast. It measures whatever the host does: which plugins
start, what is recorded, what is imported. The Targets of the start-up work are judged
at the end (PASS/MISS) and everything is appended to ``bench/RESULTS.md``.

Usage::

    python bench/startup.py [--sizes 10,100,1000] [--runs 7] [--quick]
                            [--out bench/RESULTS.md] [--compare LABEL=DIR] [--keep]

``--quick``: sizes 10,100, 3 rounds, no process-isolated cold rows: a short check.
``--compare LABEL=DIR``: also time every jafhost command with the jafhost package found
in DIR (put first on ``PYTHONPATH``), e.g. another checkout's ``host`` folder, in the
same rounds: before/after numbers from one run. The targets judge the installed one.
Stdlib only; run it with the interpreter of the environment that has jafhost installed.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import discovery as shared  # bench/discovery.py: the fake site, timing and report helpers
from discovery import (
    base_env,
    compile_host,
    git_head,
    jafhost_version,
    machine,
    make_site,
    med,
    ms,
    plugin_names,
    quartiles,
    verdict,
)

TOOL = "echo"
TEXT = "hi"
PLUGIN_CODE = '''\
"""Benchmark plugin {name}: one tool."""
from jafhost import hookimpl


def echo(text: str) -> str:
    """Return the text it is given."""
    return text


@hookimpl
def jaf_tools():
    return [echo]
'''

BARE_ONE = """\
import json, sys
import {module} as plugin
print(json.dumps(plugin.echo(text={text!r})))
"""

BARE_VALIDATED = """\
import json, sys
from pydantic import create_model
import {module} as plugin
model = create_model("echo", text=(str, ...))
arguments = model.__pydantic_validator__.validate_python({{"text": {text!r}}}).__dict__
print(json.dumps(plugin.echo(**arguments)))
"""

BARE_PLUGGY = """\
import json, pluggy
pm = pluggy.PluginManager("jaf")
pm.load_setuptools_entrypoints("jaf.plugins")
tools = {{t.__name__: t for t in pm.get_plugin({name!r}).jaf_tools()}}
print(json.dumps(tools["echo"](text={text!r})))
"""

HOST_SCRIPT = """\
import asyncio, json, time
t0 = time.perf_counter()
from jafhost import Host


async def main():
    async with Host() as host:
        result = await host.call({tool!r}, {{"text": {text!r}}})
        took = time.perf_counter() - t0
        print(json.dumps({{"result": result.result, "error": str(result.error or ""),
                          "seconds": took}}))


asyncio.run(main())
"""

MCP_PROTOCOL = "2025-06-18"

TARGET_INPROC = 1.5  # times the bare import-only script, every N
TARGET_FLAT = 1.2  # call at the largest N over the smallest
TARGET_PROCESS = 3.0  # times the bare import-only script, every N
TARGET_MCP = 1.2  # mcp ready at N=100 over N=1
TARGET_COLD = 1.5  # times the bare pluggy load-all script at N=100


@dataclass
class Run:
    """One command of the benchmark: how to run it, check it, and what it measured."""

    key: str
    label: str
    argv: list[str]
    env: dict[str, str]
    expect: str | None = None  # its stdout, stripped, on every run
    before: Callable[[], None] | None = None  # untimed, before every run (cold rows)
    mcp_tools: int | None = None  # an MCP server: time to initialize + tools/list
    inner: bool = False  # prints JSON with its own "seconds"
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _fail(run: Run, what: str) -> SystemExit:
    return SystemExit(f"{run.label} ({run.key}): {what}\ncommand: {shlex.join(run.argv)}")


def run_plain(run: Run, cwd: Path) -> tuple[float, float]:
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        run.argv, env=run.env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise _fail(run, f"exit {proc.returncode}\n{proc.stderr[-2000:]}")
    out = proc.stdout.strip()
    if run.inner:
        data = json.loads(out)
        if data.get("result") != TEXT:
            raise _fail(run, f"unexpected answer {out[:300]}\n{proc.stderr[-2000:]}")
        run.own.append(float(data["seconds"]))
    elif run.expect is not None and out != run.expect:
        raise _fail(run, f"printed {out[:300]!r}, expected {run.expect!r}\n{proc.stderr[-2000:]}")
    return wall, cpu


def _send(proc: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


def _answer(proc: subprocess.Popen[bytes], ident: int, run: Run) -> dict[str, object]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise _fail(run, f"the server closed its output before answering request {ident}")
        message = json.loads(line)
        if message.get("id") == ident:
            if "error" in message:
                raise _fail(run, f"request {ident} failed: {message['error']}")
            return dict(message["result"])


def run_mcp(run: Run, cwd: Path) -> tuple[float, float]:
    """Spawn the server, ``initialize``, ``notifications/initialized``, ``tools/list``:
    the time until the tool list is in; then close its input and wait for it to end."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            run.argv,
            env=run.env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
            _send(
                proc,
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": MCP_PROTOCOL,
                        "capabilities": {},
                        "clientInfo": {"name": "startup-bench", "version": "1"},
                    },
                },
            )
            _answer(proc, 1, run)
            _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            _send(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
            tools = _answer(proc, 2, run)["tools"]
            wall = time.perf_counter() - t0
        except BaseException:
            proc.kill()
            proc.wait()
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-2000:])
            raise
        assert proc.stdin is not None
        proc.stdin.close()
        if proc.wait(timeout=120) != 0:
            err.seek(0)
            raise _fail(run, f"exit {proc.returncode}\n{err.read().decode(errors='replace')}")
    cpu = _children_cpu() - cpu0  # the whole process, its shut-down included
    names = [t["name"] for t in tools]  # type: ignore[attr-defined]
    ours = [n for n in names if n.startswith(shared.PREFIX)]
    if len(ours) != run.mcp_tools:
        raise _fail(run, f"tools/list has {len(ours)} benchmark tools, expected {run.mcp_tools}")
    return wall, cpu


def timed(run: Run, cwd: Path) -> tuple[float, float]:
    if run.before is not None:
        run.before()
    return run_mcp(run, cwd) if run.mcp_tools is not None else run_plain(run, cwd)


# -- set-up ------------------------------------------------------------------------------


def make_tool_site(folder: Path, n: int) -> None:
    """``n`` installed plugins (``make_site``), each package now offering the tool, each
    ``RECORD`` then holding the sha256 of every file as an installer writes it (so the
    check of installed files against ``RECORD`` does its real work)."""
    make_site(folder, n)
    for name in plugin_names(n):
        module = name.replace("-", "_")
        (folder / module / "__init__.py").write_text(PLUGIN_CODE.format(name=name), "utf-8")
    for record in folder.glob("*.dist-info/RECORD"):
        lines = []
        for line in record.read_text("utf-8").splitlines():
            path = line.split(",")[0]
            if path.endswith("/RECORD"):
                lines.append(f"{path},,")
                continue
            data = (folder / path).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.write_text("\n".join(lines) + "\n", "utf-8")


def make_home(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('[host]\nisolation = "inprocess"\n', encoding="utf-8")
    return folder


def forget(home: Path) -> Callable[[], None]:
    """Delete what the host wrote in ``home`` except the user's choices (config, state):
    caches, records, schemas, plugin data: the next command starts cold."""

    def clear() -> None:
        for entry in home.iterdir():
            if entry.name in ("config.toml", "state.json"):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    return clear


def cli(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"set-up failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stderr}")
    return proc.stdout


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", default=None, help="numbers of plugins (default 10,100,1000)")
    parser.add_argument("--runs", type=int, default=None, help="rounds (default 7)")
    parser.add_argument("--quick", action="store_true", help="sizes 10,100, 3 rounds, fewer rows")
    parser.add_argument("--out", default=str(here / "RESULTS.md"), help="markdown file ('-': none)")
    parser.add_argument(
        "--compare",
        metavar="LABEL=DIR",
        default=None,
        help="also time the jafhost commands with the jafhost package in DIR (e.g. another "
        "checkout's host folder) first on PYTHONPATH, in the same rounds",
    )
    parser.add_argument("--seed", type=int, default=4242, help="seed of the shuffled order")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    sizes = args.sizes or ("10,100" if args.quick else "10,100,1000")
    try:
        args.sizes = sorted({int(s) for s in sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes must be comma-separated integers")
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--sizes needs numbers of at least 1")
    args.runs = args.runs or (3 if args.quick else 7)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    hosts: list[tuple[str, str, Path | None]] = [("", "", None)]  # key tag, label, folder
    if args.compare is not None:
        label, equals, folder = args.compare.rpartition("=")
        path = Path(folder).resolve()
        if not equals or not label or not (path / "jafhost" / "cli" / "entry.py").exists():
            parser.error("--compare takes LABEL=DIR, DIR holding jafhost/cli/entry.py")
        hosts.append((f"~{label}", f" [{label}]", path))
    args.hosts = hosts
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = sys.executable
    command_line = shlex.join([python, *(sys.argv if argv is None else [__file__, *argv])])
    started = _dt.datetime.now().astimezone()
    info_before = machine()
    work = Path(tempfile.mkdtemp(prefix="jafstartup-"))
    shared.PYCACHE = work / "pycache"  # byte code cached, outside the repository and venv
    cwd = work / "cwd"
    cwd.mkdir()
    # the console script next to this interpreter; with --host-path it imports that
    # folder's jafhost (first on PYTHONPATH)
    script = Path(python).parent / "jafhost"
    if not script.exists():
        raise SystemExit(f"no jafhost console script at {script}")
    jafhost = [str(script)]
    runs: dict[str, Run] = {}

    def add(run: Run) -> Run:
        runs[run.key] = run
        return run

    try:
        sizes = list(args.sizes)
        mcp_sizes = [1, 100]
        sites: dict[int, Path] = {}
        for n in sorted({*sizes, *mcp_sizes}):
            t0 = time.perf_counter()
            sites[n] = work / f"site-{n}"
            make_tool_site(sites[n], n)
            print(f"generated {n} plugins in {time.perf_counter() - t0:.1f} s")

        def env_for(n: int, home: Path | None = None, host: Path | None = None) -> dict[str, str]:
            env = base_env()
            env["PYTHONPATH"] = os.pathsep.join([*([str(host)] if host else []), str(sites[n])])
            env["JAFHOST_HOME"] = str(home or work / "home-unused")
            return env

        expect = json.dumps(TEXT)
        for n in sizes:
            plugin = plugin_names(n)[n // 2]
            module = plugin.replace("-", "_")
            call = [*jafhost, "call", f"{plugin}.{TOOL}", "-a", f"text={TEXT}"]
            for tag, label, folder in args.hosts:
                homes = {
                    kind: make_home(work / f"home-{kind}{tag}-{n}")
                    for kind in ("in", "incold", "proc", "proccold", "host", "alone")
                }
                for kind in ("proc", "proccold"):
                    cli(
                        [*jafhost, "enable", plugin, "--isolation", "process", "--yes"],
                        env_for(n, homes[kind], folder),
                        cwd,
                    )
                others = [name for name in plugin_names(n) if name != plugin]
                if others:
                    cli([*jafhost, "disable", *others], env_for(n, homes["alone"], folder), cwd)
                add(
                    Run(
                        f"alone{tag}@{n}",
                        f"jafhost call, in process, warm, the N-1 others disabled{label}",
                        call,
                        env_for(n, homes["alone"], folder),
                        expect,
                    )
                )
                add(
                    Run(
                        f"in{tag}@{n}",
                        f"jafhost call, in process, warm{label}",
                        call,
                        env_for(n, homes["in"], folder),
                        expect,
                    )
                )
                add(
                    Run(
                        f"incold{tag}@{n}",
                        f"jafhost call, in process, cold{label}",
                        call,
                        env_for(n, homes["incold"], folder),
                        expect,
                        before=forget(homes["incold"]),
                    )
                )
                add(
                    Run(
                        f"proc{tag}@{n}",
                        f"jafhost call, process-isolated, warm{label}",
                        call,
                        env_for(n, homes["proc"], folder),
                        expect,
                    )
                )
                if not args.quick:
                    add(
                        Run(
                            f"proccold{tag}@{n}",
                            f"jafhost call, process-isolated, cold{label}",
                            call,
                            env_for(n, homes["proccold"], folder),
                            expect,
                            before=forget(homes["proccold"]),
                        )
                    )
                script = work / f"host{tag}_{n}.py"
                script.write_text(HOST_SCRIPT.format(tool=f"{plugin}.{TOOL}", text=TEXT), "utf-8")
                add(
                    Run(
                        f"host{tag}@{n}",
                        f"long-lived Host in process: start to first call{label}",
                        [python, str(script)],
                        env_for(n, homes["host"], folder),
                        inner=True,
                    )
                )
            one = work / f"bare_one_{n}.py"
            one.write_text(BARE_ONE.format(module=module, text=TEXT), encoding="utf-8")
            add(
                Run(
                    f"one@{n}",
                    "(a) bare: import the one plugin, call it",
                    [python, str(one)],
                    env_for(n),
                    expect,
                )
            )
            validated = work / f"bare_validated_{n}.py"
            validated.write_text(BARE_VALIDATED.format(module=module, text=TEXT), "utf-8")
            add(
                Run(
                    f"onepyd@{n}",
                    "(a+) bare: import the one plugin, validate with pydantic, call it",
                    [python, str(validated)],
                    {**env_for(n), "PYDANTIC_DISABLE_PLUGINS": "__all__"},
                    expect,
                )
            )
            loader = work / f"bare_pluggy_{n}.py"
            loader.write_text(BARE_PLUGGY.format(name=plugin, text=TEXT), encoding="utf-8")
            add(
                Run(
                    f"pluggy@{n}",
                    "(b) bare pluggy: load all N, call one",
                    [python, str(loader)],
                    env_for(n),
                    expect,
                )
            )
        for tag, label, folder in args.hosts:
            for n in mcp_sizes:
                home = make_home(work / f"home-mcp{tag}-{n}")
                add(
                    Run(
                        f"mcp{tag}@{n}",
                        f"jafhost mcp ready (initialize + tools/list), in process{label}",
                        [*jafhost, "mcp"],
                        env_for(n, home, folder),
                        mcp_tools=n,
                    )
                )

        print("checking every command and warming caches, records and byte code ...")
        for _, _, folder in args.hosts:  # workers read byte code only as installed
            compile_host(None if folder is None else str(folder / "jafhost"))
        for run in runs.values():
            for _ in range(2):
                timed(run, cwd)
            run.own.clear()
        print(f"  ok: {len(runs)} commands give the expected answers")

        rng = random.Random(args.seed)
        order = list(runs.values())
        t_start = time.perf_counter()
        for r in range(args.runs):
            rng.shuffle(order)
            for run in order:
                wall, cpu = timed(run, cwd)
                run.wall.append(wall)
                run.cpu.append(cpu)
            print(
                f"\rround {r + 1}/{args.runs} ({time.perf_counter() - t_start:.0f} s)",
                end="",
                flush=True,
            )
        print()
        info_after = machine()
        return report(args, runs, sizes, mcp_sizes, command_line, started, info_before, info_after)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(
    args: argparse.Namespace,
    runs: dict[str, Run],
    sizes: list[int],
    mcp_sizes: list[int],
    command_line: str,
    started: _dt.datetime,
    info_before: dict[str, str],
    info_after: dict[str, str],
) -> int:
    def m(key: str) -> float:
        return med(runs[key].wall)

    def ratio(key: str, ref: str) -> str:
        return f"{m(key) / m(ref):.2f}×"

    header = ("command", "N", "median ms", "IQR ms", "CPU ms", "× (a) bare one", "× (b) pluggy")
    rows: list[tuple[str, ...]] = []
    tags = [tag for tag, _, _ in args.hosts]
    kinds = [f"{k}{t}" for k in ("in", "alone", "incold", "proc", "proccold") for t in tags]
    kinds += ["one", "onepyd", "pluggy", *(f"host{t}" for t in tags)]
    for n in sizes:
        for kind in kinds:
            key = f"{kind}@{n}"
            if key not in runs:
                continue
            run = runs[key]
            q1, q3 = quartiles(run.wall)
            rows.append(
                (
                    run.label,
                    str(n),
                    ms(m(key)),
                    f"{ms(q1)}–{ms(q3)}",
                    ms(med(run.cpu)),
                    "" if kind == "one" else ratio(key, f"one@{n}"),
                    "" if kind == "pluggy" else ratio(key, f"pluggy@{n}"),
                )
            )
    for tag in tags:
        for n in mcp_sizes:
            run = runs[f"mcp{tag}@{n}"]
            q1, q3 = quartiles(run.wall)
            rows.append(
                (
                    run.label,
                    str(n),
                    ms(med(run.wall)),
                    f"{ms(q1)}–{ms(q3)}",
                    ms(med(run.cpu)),
                    "",
                    "",
                )
            )

    targets: list[tuple[str, str, bool]] = []

    def target(what: str, key: str, ref: str, limit: float) -> None:
        """Judged on wall-time medians; the CPU ratio shown beside it (steadier when the
        machine is busy)."""
        value = m(key) / m(ref)
        cpu = med(runs[key].cpu) / med(runs[ref].cpu)
        targets.append((what, f"{value:.2f}× (CPU {cpu:.2f}×)", value <= limit))

    lo, hi = min(sizes), max(sizes)
    for n in sizes:
        what = f"`jafhost call`, in process, warm, N={n}: ≤ {TARGET_INPROC}× (a)"
        target(what, f"in@{n}", f"one@{n}", TARGET_INPROC)
    if hi > lo:
        what = f"`jafhost call`, in process, warm: N={hi} ≤ {TARGET_FLAT}× N={lo}"
        target(what, f"in@{hi}", f"in@{lo}", TARGET_FLAT)
    for n in sizes:
        what = f"`jafhost call`, process-isolated, warm, N={n}: ≤ {TARGET_PROCESS}× (a)"
        target(what, f"proc@{n}", f"one@{n}", TARGET_PROCESS)
    target(f"`jafhost mcp` ready: N=100 ≤ {TARGET_MCP}× N=1", "mcp@100", "mcp@1", TARGET_MCP)
    if 100 in sizes:
        what = f"`jafhost call` cold (no records), N=100: ≤ {TARGET_COLD}× (b)"
        target(what, "incold@100", "pluggy@100", TARGET_COLD)

    notes = [
        f"long-lived Host{label}, N={n}: {ms(med(runs[f'host{tag}@{n}'].own))} ms from importing "
        "`Host` to the first call's result, measured in the script (the interpreter's own "
        "start excluded)"
        for tag, label, _ in args.hosts
        for n in sizes
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    for note in notes:
        print(note.replace("`", ""))
    print("\ntargets (wall-time medians; the worker-start target is bench/isolation.py's):")
    for what, value, ok in targets:
        print(f"  {'PASS' if ok else 'MISS'}  {what.replace('`', '')}: {value}")
    load1 = max(float(info_before["load1"]), float(info_after["load1"]))
    busy = load1 > 0.75 * (os.cpu_count() or 1)
    busy_note = (
        f"machine busy (1-min load {info_before['load1']} before, {info_after['load1']} "
        f"after, {os.cpu_count()} CPUs): wall times include waiting for a CPU"
    )
    if busy:
        print(f"note: {busy_note}")
    if args.out == "-":
        return 0
    host = "the installed jafhost" + "".join(
        f"; rows marked{label}: the jafhost in `{folder}`" for _, label, folder in args.hosts[1:]
    )
    lines = [
        f"## Start-up of one-shot commands ({started:%Y-%m-%d %H:%M %Z})",
        "",
        f"- command: `{command_line}` (cwd `{os.getcwd()}`)",
        f"- date: {started.isoformat(timespec='seconds')}",
        f"- machine: nproc {info_before['nproc']}, {info_before['cpu']}, {info_before['platform']}",
        f"- python: {info_before['python']}; jafhost {jafhost_version(sys.executable)} "
        f"(git {git_head(Path(__file__).resolve().parent.parent)}); timed: {host}",
        f"- load average before / after: {info_before['loadavg']} / {info_after['loadavg']}",
        f"- {args.runs} rounds, every command once per round in a shuffled order (seed "
        f"{args.seed}); each run's output checked; byte code cached; N generated plugins "
        f"of one tool each; the called plugin is number N/2; in-process homes have "
        '`[host] isolation = "inprocess"`; process-isolated: the called plugin enabled '
        "with `--isolation process` in such a home; cold: everything in the home but "
        "`config.toml` and `state.json` deleted before each run",
    ]
    if busy:
        lines.append(f"- **{busy_note}**")
    lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", *(f"- {note}" for note in notes)]
    lines += ["", "| target | measured | result |", "|---|---|---|"]
    lines += [f"| {what} | {value} | {verdict(ok)} |" for what, value, ok in targets]
    lines.append("")
    with Path(args.out).open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"\nappended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
