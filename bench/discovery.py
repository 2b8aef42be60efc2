#!/usr/bin/env python3
"""Whole-process benchmark of plugin discovery and start-up for ``jafhost``.

Measures, in one run (so the ratios are comparable on a machine that drifts):

1. for N installed fake plugin distributions (default 0, 100, 1000), the wall time of
   ``jafhost list --json`` (the console script users run, and ``python -m jafhost``),
   warm, i.e. with the host's on-disk discovery cache already populated, against a bare
   ``python -c`` that only scans the ``jaf.plugins`` entry points; medians, the ratio
   jafhost/bare at each N and the marginal cost per plugin;
2. ``jafhost list --json`` with a cold cache (cache folder deleted before each run) at
   the largest N, for information;
3. ``jafhost --help`` against a minimal typer app's ``--help``.

All commands of all sizes are interleaved in a shuffled order in every round, so slow
drift of the machine spreads evenly over them. Before timing, the script checks that
``jafhost list --json`` lists exactly the N generated plugins (with the kinds from their
manifests) and that the bare scan sees N entry points.

Usage::

    python bench/discovery.py [--runs N] [--counts 0,100,1000] [--out bench/RESULTS.md]

Stdlib only. Run it with the interpreter of the environment that has jafhost installed;
the console script is looked up next to that interpreter (``--jafhost`` overrides).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "jafbench"  # generated plugin names: jafbench-p0000, modules: jafbench_p0000
GROUP = "jaf.plugins"
BARE_SCAN = f"import importlib.metadata as m; m.entry_points(group={GROUP!r})"
BARE_SCAN_COUNT = f"import importlib.metadata as m; print(len(m.entry_points(group={GROUP!r})))"
MANIFEST_EVERY = 3  # every third plugin ships a jaf-plugin.toml
MANIFEST_TEXT = '[plugin]\nkinds = ["tool"]\n'

TYPER_APP = '''\
"""A minimal typer app with one command (reference for --help start-up)."""
import typer

app = typer.Typer(name="bare")


@app.command()
def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Say hello."""
    print(f"hello {name}")


if __name__ == "__main__":
    app()
'''

# The same app configured like jafhost's CLI (plain click help, no rich rendering):
# informational, the apples-to-apples reference for jafhost --help.
TYPER_APP_PLAIN = TYPER_APP.replace(
    'typer.Typer(name="bare")',
    'typer.Typer(name="bare", add_completion=False, pretty_exceptions_enable=False,\n'
    "                  rich_markup_mode=None)",
)

PYCACHE: Path | None = None  # set by main(): a byte-code folder inside the work folder

TARGET_LIST_RATIO = 1.5
TARGET_PER_PLUGIN_US = 40.0
TARGET_HELP_RATIO = 1.1


# -- fake installed plugins ---------------------------------------------------------


def plugin_names(n: int) -> list[str]:
    return [f"{PREFIX}-p{i:04d}" for i in range(n)]


def has_manifest(index: int) -> bool:
    return index % MANIFEST_EVERY == 0


def make_site(folder: Path, n: int) -> None:
    """``n`` fake distributions, each providing one ``jaf.plugins`` entry point."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(plugin_names(n)):
        module = name.replace("-", "_")
        dist = f"{module}-1.0.{i}"
        info = folder / f"{dist}.dist-info"
        pkg = folder / module
        info.mkdir()
        pkg.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\n"
            f"Name: {name}\n"
            f"Version: 1.0.{i}\n"
            f"Summary: Generated benchmark plugin number {i}\n",
            encoding="utf-8",
        )
        (info / "entry_points.txt").write_text(f"[{GROUP}]\n{name} = {module}\n", encoding="utf-8")
        (pkg / "__init__.py").write_text(f'"""Benchmark plugin {name}."""\n', encoding="utf-8")
        files = [
            f"{module}/__init__.py",
            f"{dist}.dist-info/METADATA",
            f"{dist}.dist-info/entry_points.txt",
        ]
        if has_manifest(i):
            (pkg / "jaf-plugin.toml").write_text(MANIFEST_TEXT, encoding="utf-8")
            files.append(f"{module}/jaf-plugin.toml")
        files.append(f"{dist}.dist-info/RECORD")
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in files), encoding="utf-8")


# -- commands and timing ------------------------------------------------------------


@dataclass
class Command:
    key: str  # unique within the run, e.g. "list@1000"
    label: str  # what the table shows
    argv: list[str]
    env: dict[str, str]
    before: Path | None = None  # folder removed (untimed) before every run: cold cache
    cache: Path | None = None  # warm runs: count the runs that rewrote this cache folder
    rescans: int = 0
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in (
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDEVMODE",
        "PYTHONWARNINGS",
        "PYTHONNOUSERSITE",
        "JAFHOST_DEBUG",
        "JAFHOST_HOME",
        "PYDANTIC_DISABLE_PLUGINS",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONPYCACHEPREFIX",
    ):
        env.pop(var, None)
    env["PYTHONHASHSEED"] = "0"
    if PYCACHE is not None:
        # Byte code cached as users have it, but kept out of the repository and the venv.
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def compile_host(folder: str | None = None) -> None:
    """Byte-compile jafhost (the installed one, or the package in ``folder``) first, as
    an installation does: workers run with ``-I -B``, so with
    ``PYTHONDONTWRITEBYTECODE`` (set in some development shells) or a checkout never
    compiled, every worker would compile the host's modules from source."""
    if folder is None:
        import jafhost

        folder = os.path.dirname(jafhost.__file__)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", folder],
        env=env, check=False, capture_output=True,
    )  # fmt: skip


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cache_state(folder: Path) -> dict[str, tuple[int, int]]:
    try:
        return {e.name: (e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(folder)}
    except OSError:
        return {}


def run_once(cmd: Command, cwd: Path) -> tuple[float, float]:
    """One timed run: (wall seconds, child user+sys CPU seconds)."""
    if cmd.before is not None:
        shutil.rmtree(cmd.before, ignore_errors=True)
    cache_before = _cache_state(cmd.cache) if cmd.cache is not None else None
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd.argv,
        env=cmd.env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if cmd.cache is not None and _cache_state(cmd.cache) != cache_before:
        cmd.rescans += 1  # the cache was found stale (something on sys.path changed)
    if proc.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({proc.returncode}): {shlex.join(cmd.argv)}\n"
            + proc.stderr.decode(errors="replace")
        )
    return wall, cpu


def capture(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stderr}")
    if proc.stderr.strip():
        print(f"  note: stderr of {shlex.join(argv)}: {proc.stderr.strip()[:300]}", file=sys.stderr)
    return proc.stdout


# -- correctness ----------------------------------------------------------------------


def check_listing(output: str, n: int, what: str) -> None:
    try:
        data = json.loads(output)
    except ValueError as exc:
        raise SystemExit(f"{what}: output is not JSON: {exc}") from None
    if not isinstance(data, list):
        raise SystemExit(f"{what}: expected a JSON list, got {type(data).__name__}")
    ours = [e for e in data if isinstance(e, dict) and str(e.get("name", "")).startswith(PREFIX)]
    expected = plugin_names(n)
    got = sorted(e["name"] for e in ours)
    if got != expected:
        missing = sorted(set(expected) - set(got))[:5]
        extra = sorted(set(got) - set(expected))[:5]
        raise SystemExit(
            f"{what}: lists {len(got)} generated plugins, expected {n} "
            f"(missing e.g. {missing}, unexpected e.g. {extra})"
        )
    for entry in ours:
        index = int(entry["name"].rsplit("p", 1)[1])
        kinds = ["tool"] if has_manifest(index) else []
        problems = []
        if entry.get("version") != f"1.0.{index}":
            problems.append(f"version {entry.get('version')!r}")
        if list(entry.get("kinds") or []) != kinds:
            problems.append(f"kinds {entry.get('kinds')!r}, expected {kinds}")
        if entry.get("status") != "enabled":
            problems.append(f"status {entry.get('status')!r} ({entry.get('reason')})")
        if problems:
            raise SystemExit(f"{what}: {entry['name']}: " + "; ".join(problems))


# -- statistics and report ------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**MISS**"


def machine() -> dict[str, str]:
    try:
        averages = os.getloadavg()
        load, load1 = " ".join(f"{x:.2f}" for x in averages), f"{averages[0]:.2f}"
    except OSError:
        load, load1 = "?", "0"
    cpu_model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model,
        "python": f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        "platform": platform.platform(),
        "loadavg": load,
        "load1": load1,
    }


def jafhost_version(python: str) -> str:
    try:
        out = subprocess.run(
            [python, "-c", "import jafhost; print(jafhost.__version__)"],
            capture_output=True,
            text=True,
            env=base_env(),
            check=True,
        ).stdout
        return out.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def git_head(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


# -- main -----------------------------------------------------------------------------


def alt_script(python: str, folder: Path) -> list[str]:
    """What the console script of the jafhost package in ``folder`` runs: its entry
    module's ``main`` (``jafhost.cli.entry`` since the layered layout, ``jafhost.entry``
    before), so a host from another checkout is timed the way it would be installed."""
    module = (
        "jafhost.cli.entry"
        if (folder / "jafhost" / "cli" / "entry.py").exists()
        else "jafhost.entry"
    )
    return [python, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="rounds (timed runs per command)")
    parser.add_argument(
        "--counts",
        default="0,100,1000",
        help="comma-separated numbers of installed plugins (default 0,100,1000)",
    )
    parser.add_argument(
        "--out",
        default=str(here / "RESULTS.md"),
        help="markdown file the results are appended to ('-' for none)",
    )
    parser.add_argument(
        "--jafhost",
        default=None,
        help="console script to time (default: jafhost next to this interpreter)",
    )
    parser.add_argument("--seed", type=int, default=12345, help="seed of the shuffled order")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--alt-host",
        metavar="[LABEL=]DIR",
        action="append",
        default=[],
        help="also time `jafhost list --json` and `--help` with DIR (a folder "
        "holding a modified jafhost package) first on PYTHONPATH; "
        "repeatable",
    )
    args = parser.parse_args(argv)
    try:
        args.counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
    except ValueError:
        parser.error("--counts must be comma-separated integers")
    if not args.counts or min(args.counts) < 0:
        parser.error("--counts needs at least one non-negative number")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = sys.executable
    script = Path(args.jafhost) if args.jafhost else Path(python).parent / "jafhost"
    if not script.exists():
        found = shutil.which("jafhost")
        if not found:
            raise SystemExit(f"no jafhost console script at {script}; pass --jafhost")
        script = Path(found)
    alts: list[tuple[str, str, Path]] = []  # (key, label, folder)
    for i, spec in enumerate(args.alt_host):
        label, sep, folder = spec.rpartition("=")
        path = Path(folder).resolve()
        if not (path / "jafhost" / "__init__.py").exists():
            raise SystemExit(f"--alt-host {path} has no jafhost/__init__.py")
        alts.append((f"alt{i}", label if sep else f"alt {i + 1}", path))
    command_line = shlex.join([python, *(sys.argv if argv is None else [__file__, *argv])])
    started = _dt.datetime.now().astimezone()
    info_before = machine()
    work = Path(tempfile.mkdtemp(prefix="jafbench-"))
    # Every command runs in an empty folder of its own: ``python -m``/``-c`` put the working
    # folder on sys.path, and a folder whose contents change would invalidate the cache.
    cwd = work / "cwd"
    cwd.mkdir()
    global PYCACHE
    PYCACHE = work / "pycache"
    print(f"work folder {work}")
    try:
        commands: list[Command] = []
        by_key: dict[str, Command] = {}

        def add(cmd: Command) -> Command:
            commands.append(cmd)
            by_key[cmd.key] = cmd
            return cmd

        def home(env: dict[str, str], name: str) -> dict[str, str]:
            return dict(env, JAFHOST_HOME=str(work / name))

        def warm(key: str, label: str, argv_: list[str], env: dict[str, str]) -> Command:
            return add(Command(key, label, argv_, env, cache=Path(env["JAFHOST_HOME"]) / "cache"))

        top = max(args.counts)
        for n in args.counts:
            site = work / f"site-{n}"
            t0 = time.perf_counter()
            make_site(site, n)
            print(f"generated {n} plugin distributions in {time.perf_counter() - t0:.1f} s")
            env = base_env()
            env["PYTHONPATH"] = str(site)
            warm(
                f"list@{n}",
                "jafhost list --json",
                [str(script), "list", "--json"],
                home(env, f"home-{n}"),
            )
            warm(
                f"listm@{n}",
                "python -m jafhost list --json",
                [python, "-m", "jafhost", "list", "--json"],
                home(env, f"home-m-{n}"),
            )
            for akey, alabel, folder in alts:
                env_alt = dict(env, PYTHONPATH=f"{folder}{os.pathsep}{site}")
                warm(
                    f"{akey}@{n}",
                    f"jafhost list --json [{alabel}]",
                    [*alt_script(python, folder), "list", "--json"],
                    home(env_alt, f"home-{akey}-{n}"),
                )
            add(Command(f"bare@{n}", "bare entry-point scan", [python, "-c", BARE_SCAN], env))
            add(Command(f"pass@{n}", "python -c pass", [python, "-c", "pass"], env))
            if n == top and not args.no_cold:
                env_cold = home(env, f"home-cold-{n}")
                add(
                    Command(
                        f"cold@{n}",
                        "jafhost list --json, cold cache",
                        [str(script), "list", "--json"],
                        env_cold,
                        before=Path(env_cold["JAFHOST_HOME"]) / "cache",
                    )
                )

        help_env = home(base_env(), "home-help")
        app = work / "bare_typer_app.py"
        app.write_text(TYPER_APP, encoding="utf-8")
        app_plain = work / "bare_typer_app_plain.py"
        app_plain.write_text(TYPER_APP_PLAIN, encoding="utf-8")
        add(Command("help", "jafhost --help", [str(script), "--help"], help_env))
        add(
            Command(
                "helpm", "python -m jafhost --help", [python, "-m", "jafhost", "--help"], help_env
            )
        )
        for akey, alabel, folder in alts:
            add(
                Command(
                    f"{akey}help",
                    f"jafhost --help [{alabel}]",
                    [*alt_script(python, folder), "--help"],
                    dict(help_env, PYTHONPATH=str(folder)),
                )
            )
        add(Command("typer", "bare typer app --help", [python, str(app), "--help"], help_env))
        add(
            Command(
                "typerplain",
                "bare typer app --help (rich_markup_mode=None)",
                [python, str(app_plain), "--help"],
                help_env,
            )
        )
        add(Command("typerrun", "bare typer app, runs its command", [python, str(app)], help_env))
        alt_keys = [akey for akey, _, _ in alts]
        help_keys = [
            "help",
            "helpm",
            *(f"{k}help" for k in alt_keys),
            "typer",
            "typerplain",
            "typerrun",
        ]

        # Correctness, and warm-up: populates each home's discovery cache and byte code.
        print("checking outputs and warming the caches ...")
        others: set[str] = set()
        for n in args.counts:
            reference = None
            for key in (f"list@{n}", f"listm@{n}", *(f"{k}@{n}" for k in alt_keys)):
                cmd = by_key.get(key)
                if cmd is None:
                    continue
                first = capture(cmd.argv, cmd.env, cwd)
                check_listing(first, n, f"{cmd.label} at N={n} (first run)")
                assert cmd.cache is not None
                if not any(cmd.cache.glob("discovery-*.json")):
                    print(
                        f"  warning: no discovery cache written under {cmd.cache}", file=sys.stderr
                    )
                second = capture(cmd.argv, cmd.env, cwd)
                check_listing(second, n, f"{cmd.label} at N={n} (cached run)")
                if json.loads(first) != json.loads(second):
                    raise SystemExit(
                        f"{cmd.label} at N={n}: cached output differs from the fresh scan's"
                    )
                if reference is None:
                    reference = json.loads(first)
                    others |= {e["name"] for e in reference if not e["name"].startswith(PREFIX)}
                elif json.loads(first) != reference:
                    raise SystemExit(
                        f"{cmd.label} at N={n}: output differs from {by_key[f'list@{n}'].label}'s"
                    )
            bare = by_key[f"bare@{n}"]
            seen = int(capture([python, "-c", BARE_SCAN_COUNT], bare.env, cwd).strip())
            if seen < n:
                raise SystemExit(f"bare scan at N={n} sees {seen} entry points, expected >= {n}")
            if f"cold@{n}" in by_key:
                cold = by_key[f"cold@{n}"]
                assert cold.before is not None
                shutil.rmtree(cold.before, ignore_errors=True)
                check_listing(capture(cold.argv, cold.env, cwd), n, f"cold run at N={n}")
        for key in help_keys:
            out = capture(by_key[key].argv, by_key[key].env, cwd)
            if key != "typerrun" and "--help" not in out:
                raise SystemExit(f"{key}: unexpected --help output:\n{out}")
        print(
            f"  ok: every listing has exactly its N generated plugins (N in {args.counts}); "
            f"other jaf.plugins installed: {', '.join(sorted(others)) or 'none'}"
        )

        rng = random.Random(args.seed)
        order = list(commands)
        t_start = time.perf_counter()
        for r in range(args.runs):
            rng.shuffle(order)
            for cmd in order:
                wall, cpu = run_once(cmd, cwd)
                cmd.wall.append(wall)
                cmd.cpu.append(cpu)
            done = time.perf_counter() - t_start
            print(f"\rround {r + 1}/{args.runs} ({done:.0f} s)", end="", flush=True)
        print()
        info_after = machine()

        # -- results ------------------------------------------------------------------
        rows: list[tuple[str, ...]] = []

        def row(cmd: Command, n: str, ref: Command | None) -> None:
            q1, q3 = quartiles(cmd.wall)
            ratio = cpu_ratio = ""
            if ref is not None:
                ratio = f"{med(cmd.wall) / med(ref.wall):.2f}×"
                cpu_ratio = f"{med(cmd.cpu) / med(ref.cpu):.2f}×"
            rows.append(
                (
                    cmd.label,
                    n,
                    ms(med(cmd.wall)),
                    f"{ms(q1)}–{ms(q3)}",
                    ms(med(cmd.cpu)),
                    ratio,
                    cpu_ratio,
                )
            )

        for n in args.counts:
            for key in ("list", "listm", *alt_keys, "bare", "pass", "cold"):
                cmd = by_key.get(f"{key}@{n}")
                if cmd is not None:
                    row(cmd, str(n), None if key in ("bare", "pass") else by_key[f"bare@{n}"])
        typer_med = med(by_key["typer"].wall)
        for key in help_keys:
            row(by_key[key], "-", None if key == "typer" else by_key["typer"])

        lo, hi = min(args.counts), max(args.counts)
        labels = {
            "list": "jafhost list --json",
            "listm": "python -m jafhost list --json",
            **{k: f"jafhost list --json [{lab}]" for k, lab, _ in alts},
            "bare": "bare entry-point scan",
            "pass": "python -c pass",
        }
        marginal: dict[str, float] = {}
        marginal_cpu: dict[str, float] = {}
        if hi > lo:
            for key in labels:
                if f"{key}@{hi}" in by_key:
                    top_, low_ = by_key[f"{key}@{hi}"], by_key[f"{key}@{lo}"]
                    marginal[key] = (med(top_.wall) - med(low_.wall)) / (hi - lo) * 1e6
                    marginal_cpu[key] = (med(top_.cpu) - med(low_.cpu)) / (hi - lo) * 1e6
        load1 = max(float(info_before["load1"]), float(info_after["load1"]))
        busy = load1 > 0.75 * (os.cpu_count() or 1)
        busy_note = (
            f"machine busy (1-min load average {info_before['load1']} before, "
            f"{info_after['load1']} after, {os.cpu_count()} CPUs): wall times "
            "include waiting for a CPU; the CPU columns are the steadier measure"
        )
        rescans = {
            c.label + f" (N={c.key.split('@')[1]})": c.rescans
            for c in commands
            if c.cache is not None and c.rescans
        }

        header = ("command", "N", "median ms", "IQR ms", "CPU ms", "ratio", "CPU ratio")
        widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
        print()
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r_ in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r_, widths, strict=True)))
        print(
            "ratio: list rows against the bare scan at the same N; --help rows against the "
            "bare typer app"
        )
        if marginal:
            print(f"\nmarginal cost per plugin, (t_{hi} - t_{lo}) / {hi - lo}:")
            for key, per_plugin in marginal.items():
                print(
                    f"  {labels[key]:32s} {per_plugin:7.1f} µs wall, "
                    f"{marginal_cpu[key]:7.1f} µs CPU"
                )
        if rescans:
            print(
                "warm runs that found the cache stale and rescanned (sys.path changed "
                "during the run):",
                rescans,
            )

        def both(key: str, ref: str) -> str:
            a, b = by_key[key], by_key[ref]
            return f"{med(a.wall) / med(b.wall):.2f}× (CPU {med(a.cpu) / med(b.cpu):.2f}×)"

        targets: list[tuple[str, str, bool]] = []
        at = 1000 if 1000 in args.counts else hi
        list_ratio = med(by_key[f"list@{at}"].wall) / med(by_key[f"bare@{at}"].wall)
        value = (
            both(f"list@{at}", f"bare@{at}") + "; `python -m`: " + both(f"listm@{at}", f"bare@{at}")
        )
        for akey, alabel, _ in alts:
            value += f"; {alabel}: " + both(f"{akey}@{at}", f"bare@{at}")
        targets.append(
            (
                f"`jafhost list --json` at N={at} ≤ {TARGET_LIST_RATIO}× bare scan",
                value,
                list_ratio <= TARGET_LIST_RATIO,
            )
        )
        if marginal:

            def per(key: str) -> str:
                return f"{marginal[key]:.1f} µs (CPU {marginal_cpu[key]:.1f} µs)"

            value = per("list") + "; `python -m`: " + per("listm")
            for akey, alabel, _ in alts:
                value += f"; {alabel}: " + per(akey)
            value += "; bare scan: " + per("bare")
            targets.append(
                (
                    f"marginal cost per plugin ≤ {TARGET_PER_PLUGIN_US:.0f} µs",
                    value,
                    marginal["list"] <= TARGET_PER_PLUGIN_US,
                )
            )
        help_ratio = med(by_key["help"].wall) / typer_med
        value = (
            both("help", "typer")
            + "; against the plain-help typer app: "
            + both("help", "typerplain")
        )
        for akey, alabel, _ in alts:
            value += f"; {alabel}: " + both(f"{akey}help", "typer")
        targets.append(
            (
                f"`jafhost --help` ≤ {TARGET_HELP_RATIO}× bare typer `--help`",
                value,
                help_ratio <= TARGET_HELP_RATIO,
            )
        )
        print("\ntargets (judged on wall-time medians):")
        for what, value, ok in targets:
            plain = f"{what}: {value}".replace("`", "")
            print(f"  {'PASS' if ok else 'MISS'}  {plain}")
        if busy:
            print(f"note: {busy_note}")

        # -- markdown -----------------------------------------------------------------
        if args.out != "-":
            out_file = Path(args.out)
            lines: list[str] = []
            if not out_file.exists() or not out_file.read_text(encoding="utf-8").strip():
                lines += [
                    "# Benchmark results",
                    "",
                    "Appended by the scripts in this folder; compare numbers only within "
                    "one run (the machine drifts ±20% between runs).",
                    "",
                ]
            lines += [
                f"## Discovery and start-up ({started:%Y-%m-%d %H:%M %Z})"
                + (", with alternative hosts" if alts else ""),
                "",
                f"- command: `{command_line}` (cwd `{os.getcwd()}`)",
                f"- date: {started.isoformat(timespec='seconds')}",
                f"- machine: nproc {info_before['nproc']}, {info_before['cpu']}, "
                f"{info_before['platform']}",
                f"- python: {info_before['python']}; jafhost {jafhost_version(python)} "
                f"(git {git_head(Path(__file__).resolve().parent.parent)}); "
                f"console script `{script}`",
                f"- load average before / after: {info_before['loadavg']} / "
                f"{info_after['loadavg']}",
                f"- {args.runs} rounds; every round runs every command once, in a shuffled "
                f"order (seed {args.seed}), from an empty working folder; warm = discovery "
                "cache populated by untimed runs first; cold = cache folder deleted before "
                "each run; byte code cached (`PYTHONPYCACHEPREFIX` in the work folder, "
                "`PYTHONDONTWRITEBYTECODE` unset)",
                f"- installed plugins: N generated `*.dist-info` (METADATA, entry_points.txt, "
                f"RECORD) + package dirs on `PYTHONPATH`, every {MANIFEST_EVERY}rd with a "
                "`jaf-plugin.toml`; outputs checked: each listing has exactly the N plugins; "
                f"also installed in the environment: {', '.join(sorted(others)) or 'none'}",
            ]
            for _, alabel, folder in alts:
                lines.append(
                    f"- {alabel}: `{folder}` prepended to `PYTHONPATH` (same console "
                    "script, same outputs checked)"
                )
            if rescans:
                lines.append(f"- warm runs that found the cache stale and rescanned: {rescans}")
            if busy:
                lines.append(f"- **{busy_note}**")
            lines += [
                "",
                "| " + " | ".join(header) + " |",
                "|" + "|".join("---" for _ in header) + "|",
            ]
            lines += ["| " + " | ".join(r_) + " |" for r_ in rows]
            lines += [
                "",
                "Ratio: `list` rows against the bare scan at the same N; `--help` rows "
                "against the bare typer app (default settings). CPU = user+sys of the "
                "child process, median.",
                "",
            ]
            if marginal:
                lines += [
                    f"Marginal cost per plugin, (t_{hi} − t_{lo}) / {hi - lo}, wall (CPU): "
                    + "; ".join(
                        f"{labels[k]} {v:.1f} µs ({marginal_cpu[k]:.1f} µs)"
                        for k, v in marginal.items()
                    ),
                    "",
                ]
            lines += [
                "| target | measured (wall-time medians; CPU in brackets) | result |",
                "|---|---|---|",
            ]
            lines += [f"| {what} | {value} | {verdict(ok)} |" for what, value, ok in targets]
            lines += [""]
            with out_file.open("a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")
            print(f"\nappended to {out_file}")
        return 1 if args.strict and not all(ok for _, _, ok in targets) else 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
